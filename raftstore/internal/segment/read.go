package segment

import (
	"bytes"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
)

// Readers hold Log.mu (read lock) from the lookup until the last copy:
// frames are read straight from the mappings, which the writer may replace
// or unmap once it holds the write lock.

// cursor walks frames forward from a position, across segments, checking
// each frame's CRC and that raft indexes follow each other.
type cursor struct {
	segs []*segment // segs[0] holds pos
	pos  int64
	next uint64 // raft index of the frame at pos
}

// frame is a decoded frame; data aliases the mapping.
type frame struct {
	frameHeader
	data []byte
}

func (c *cursor) nextFrame() (frame, bool, error) {
	for len(c.segs) > 0 {
		s := c.segs[0]
		if c.pos >= s.size {
			c.segs, c.pos = c.segs[1:], 0
			continue
		}
		h, data, err := decodeFrame(s.data[c.pos:s.size])
		if err == nil && h.index != c.next {
			err = fmt.Errorf("%w: raft index %d, want %d", errOutOfSequence, h.index, c.next)
		}
		if err != nil {
			return frame{}, false, s.corrupt(c.pos, err)
		}
		c.pos += h.size()
		c.next++
		return frame{h, data}, true, nil
	}
	return frame{}, false, nil
}

// landing checks that an index entry points at the frame it names. Index
// files are a cache that recovery checks only at their ends, so every
// lookup verifies where it lands and falls back to the segment start.
func (s *segment) landing(e indexEntry) bool {
	if e.b < 0 || e.b >= s.size {
		return false
	}
	h, err := parseFrameHeader(s.data[e.b:s.size])
	return err == nil && h.index == e.index && h.baseOffset == e.a
}

// cursorFrom returns a cursor over segs[k:] at the index entry j of
// segs[k]'s offset index (-1: the segment start).
func (l *Log) cursorFrom(k, j int) cursor {
	s := l.segs[k]
	c := cursor{segs: l.segs[k:], next: s.base}
	if j < 0 {
		return c
	}
	if e := s.offIdx.at(j); s.landing(e) {
		c.pos, c.next = e.b, e.index
	} else {
		l.logger.Warn("segment: index entry does not match the log; scanning the segment",
			"file", s.name(), "entry", j)
	}
	return c
}

// cursorAt returns a cursor at or before the frame for raft index i in segs[k].
func (l *Log) cursorAt(k int, i uint64) cursor {
	return l.cursorFrom(k, l.segs[k].offIdx.floor(int64(i), keyIndex))
}

// frameFor returns the frame of raft index i, which must be in the log.
func (l *Log) frameFor(i uint64) (frame, error) {
	c := l.cursorAt(l.segmentForIndex(i), i)
	for {
		f, ok, err := c.nextFrame()
		if err != nil {
			return frame{}, err
		}
		if !ok {
			return frame{}, fmt.Errorf("%w: raft index %d missing", ErrCorrupt, i)
		}
		if f.index == i {
			return f, nil
		}
	}
}

// checkIndex returns ErrCompacted or ErrUnavailable for an i outside
// [FirstIndex, LastIndex].
func (l *Log) checkIndex(i uint64) error {
	switch {
	case l.closed:
		return ErrClosed
	case i <= l.boundary.Index:
		return fmt.Errorf("%w: index %d, first index %d", ErrCompacted, i, l.boundary.Index+1)
	case i > l.lastIndex():
		return fmt.Errorf("%w: index %d, last index %d", ErrUnavailable, i, l.lastIndex())
	}
	return nil
}

// Term returns the term of entry i, including the boundary entry just before
// FirstIndex. Errors: ErrCompacted, ErrUnavailable, ErrCorrupt.
func (l *Log) Term(i uint64) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if i == l.boundary.Index && !l.closed {
		return l.boundary.Term, nil
	}
	if err := l.checkIndex(i); err != nil {
		return 0, err
	}
	if a := l.active(); i == a.lastIndex {
		return a.lastTerm, nil
	}
	f, err := l.frameFor(i)
	return f.term, err
}

// Entries returns the entries in [lo, hi), at least one, and no more than
// maxSize bytes of them beyond the first (sized as raft does). The Data is a
// copy. Errors: ErrCompacted, ErrUnavailable, ErrCorrupt.
func (l *Log) Entries(lo, hi, maxSize uint64) ([]raftpb.Entry, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.checkIndex(lo); err != nil {
		return nil, err
	}
	if hi > l.lastIndex()+1 {
		return nil, fmt.Errorf("%w: hi %d, last index %d", ErrUnavailable, hi, l.lastIndex())
	}
	if lo >= hi {
		return nil, nil
	}
	var (
		out  []raftpb.Entry
		size uint64
	)
	c := l.cursorAt(l.segmentForIndex(lo), lo)
	for {
		f, ok, err := c.nextFrame()
		if err != nil {
			return nil, err
		}
		if !ok || f.index >= hi {
			return out, nil
		}
		if f.index < lo {
			continue
		}
		e := raftpb.Entry{Term: f.term, Index: f.index, Type: f.typ, Data: clone(f.data)}
		n := uint64(e.Size())
		if len(out) > 0 && size+n > maxSize {
			return out, nil
		}
		size += n
		out = append(out, e)
	}
}

// EntryOffsets returns the base offset and record count stamped on entry i.
// Errors: ErrCompacted, ErrUnavailable, ErrCorrupt.
func (l *Log) EntryOffsets(i uint64) (baseOffset int64, count uint32, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.checkIndex(i); err != nil {
		return 0, 0, err
	}
	f, err := l.frameFor(i)
	if err != nil {
		return 0, 0, err
	}
	h, _, err := f.batch()
	return f.baseOffset, h.RecordCount, err
}

// batch decodes the batch a frame carries; a zero header for none.
func (f frame) batch() (BatchHeader, []byte, error) {
	if f.typ != raftpb.EntryNormal || len(f.data) == 0 {
		return BatchHeader{}, nil, nil
	}
	return DecodeBatchHeader(f.data)
}

// Batch is one stored entry that carries records, as returned to readers.
type Batch struct {
	Index, Term uint64
	BaseOffset  int64
	Header      BatchHeader
	Payload     []byte // a copy: safe to keep after the call
}

// Read returns the batches holding offsets >= offset, starting with the one
// that contains offset, up to raft index maxIndex (the commit index). It
// stops before the batch that would take the payload total past maxBytes,
// but always returns at least one batch when one is readable. Reading at
// NextOffset, or where the next batch is past maxIndex, returns nothing.
// Errors: ErrOffsetOutOfRange outside [StartOffset, NextOffset], ErrCorrupt.
func (l *Log) Read(offset int64, maxIndex uint64, maxBytes int) ([]Batch, error) {
	var out []Batch
	err := l.ReadFunc(offset, maxIndex, maxBytes, func(batches []Batch) error {
		out = make([]Batch, len(batches))
		for i, b := range batches {
			b.Payload = bytes.Clone(b.Payload)
			out[i] = b
		}
		return nil
	})
	return out, err
}

// ReadFunc is Read without the copies: it calls fn once with the batches
// (possibly none), their payloads aliasing the segments' mappings, which
// are valid only until fn returns. It holds the log's read lock meanwhile,
// so fn should copy what it needs and return: appends wait for it.
func (l *Log) ReadFunc(offset int64, maxIndex uint64, maxBytes int, fn func([]Batch) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if next := l.active().nextOffset; offset < l.boundary.NextOffset || offset > next {
		return fmt.Errorf("%w: offset %d, log holds [%d, %d)", ErrOffsetOutOfRange, offset, l.boundary.NextOffset, next)
	}
	k := l.segmentForOffset(offset)
	if k == len(l.segs) {
		return fn(nil)
	}
	c := l.cursorFrom(k, l.segs[k].offIdx.floor(offset, keyA))
	var (
		out   []Batch
		total int
	)
	for {
		f, ok, err := c.nextFrame()
		if err != nil {
			return err
		}
		if !ok || f.index > maxIndex {
			return fn(out)
		}
		h, payload, err := f.batch()
		if err != nil {
			return err
		}
		if h.RecordCount == 0 || f.baseOffset+int64(h.RecordCount) <= offset {
			continue
		}
		if len(out) > 0 && total+len(payload) > maxBytes {
			return fn(out)
		}
		out = append(out, Batch{Index: f.index, Term: f.term, BaseOffset: f.baseOffset, Header: h, Payload: payload})
		total += len(payload)
	}
}

// OffsetForTime returns the base offset of the first batch whose max
// timestamp is >= ts (ms), among entries up to maxIndex, or NextOffset when
// there is none. Errors: ErrCorrupt.
func (l *Log) OffsetForTime(ts int64, maxIndex uint64) (int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	for k, s := range l.segs {
		if s.maxTimestamp < ts {
			continue // no batch in s reaches ts
		}
		// Every batch up to the last time-index entry below ts is below ts.
		c := cursor{segs: l.segs[k : k+1], next: s.base}
		skip := uint64(0)
		if j := s.timeIdx.floor(ts-1, keyA); j >= 0 && ts > noTimestamp {
			e := s.timeIdx.at(j)
			c = l.cursorFrom(k, s.offIdx.find(e.index))
			c.segs = c.segs[:1]
			skip = e.index
		}
		for {
			f, ok, err := c.nextFrame()
			if err != nil {
				return 0, err
			}
			if !ok {
				break
			}
			if f.index > maxIndex {
				return l.active().nextOffset, nil
			}
			if f.index <= skip || f.index <= l.boundary.Index {
				continue
			}
			h, _, err := f.batch()
			if err != nil {
				return 0, err
			}
			if h.RecordCount > 0 && h.MaxTimestamp >= ts {
				return f.baseOffset, nil
			}
		}
	}
	return l.active().nextOffset, nil
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
