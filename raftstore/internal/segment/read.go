package segment

import (
	"bytes"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
)

// Most readers hold Log.mu (read lock) from the lookup until the last copy:
// frames are read straight from the mappings, which the writer may replace
// or unmap once it holds the write lock. A sealed segment's mappings are
// the cache's: a cursor pins each sealed segment it enters (Cache.acquire),
// so that no eviction unmaps it, until the cursor is closed.
//
// ReadFunc, which hands payloads to a callback that may take long (a
// response of up to 16 MiB encoded from cold pages), holds Log.mu only to
// look up where to start and to pin the mapping of each segment it walks
// (see mapping); the walk, its CRC checks and the callback run unlocked.

// cursor walks frames forward from a position, across segments, checking
// each frame's CRC and that raft indexes follow each other. Its owner must
// close it once done with the frames it returned.
type cursor struct {
	segs []*segment // segs[0] holds pos, and is pinned
	pos  int64
	next uint64 // raft index of the frame at pos
	held []hold // what it pinned, to release in close
	// keep makes enter pin the active segment's mapping too: for a walk
	// that goes on after Log.mu is released.
	keep bool
}

// hold is a pin on a segment's log mapping: a Cache hold for a sealed
// segment, a bare pin (s nil) for an active one.
type hold struct {
	s *segment
	m *mapping
}

func (h hold) release() {
	if h.s == nil {
		_ = h.m.unpin() // NB: as in Cache.release
		return
	}
	h.s.cache.release(h.s, h.m)
}

// frame is a decoded frame; data aliases the mapping.
type frame struct {
	frameHeader
	data []byte
}

// enter pins segs[0] (under Log.mu): a sealed segment is mapped if it is
// not. The active segment is always mapped; with keep, its mapping is
// pinned.
func (c *cursor) enter() error {
	s := c.segs[0]
	if s.active {
		if c.keep {
			s.m.pin()
			c.held = append(c.held, hold{m: s.m})
		}
		return nil
	}
	m, err := s.cache.acquire(s)
	if err != nil {
		return err
	}
	c.held = append(c.held, hold{s, m})
	return nil
}

// close releases what the cursor pinned; the frames it returned are no
// longer valid after it. It needs no lock.
func (c *cursor) close() {
	for _, h := range c.held {
		h.release()
	}
	c.held = nil
}

func (c *cursor) nextFrame() (frame, bool, error) {
	for len(c.segs) > 0 {
		s := c.segs[0]
		if c.pos >= s.size {
			c.segs, c.pos = c.segs[1:], 0
			if len(c.segs) > 0 {
				if err := c.enter(); err != nil {
					return frame{}, false, err
				}
			}
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

// atStart picks no index entry: a cursor at the segment start.
func atStart(*segment) int { return -1 }

// cursorFrom returns a cursor over segs[k:] at the offset-index entry of
// segs[k] that pick returns once the segment is pinned (-1: the segment
// start). The cursor must be closed, even on error.
func (l *Log) cursorFrom(k int, pick func(*segment) int) (cursor, error) {
	c := cursor{segs: l.segs[k:], next: l.segs[k].base}
	err := l.place(&c, pick)
	return c, err
}

// place pins c.segs[0], where c is at the start, and moves c to the
// offset-index entry pick returns.
func (l *Log) place(c *cursor, pick func(*segment) int) error {
	s := c.segs[0]
	if err := c.enter(); err != nil {
		return err
	}
	j := pick(s)
	if j < 0 {
		return nil
	}
	if e := s.offIdx.at(j); s.landing(e) {
		c.pos, c.next = e.b, e.index
	} else {
		l.logger.Warn("segment: index entry does not match the log; scanning the segment",
			"file", s.name(), "entry", j)
	}
	return nil
}

// cursorAt returns a cursor at or before the frame for raft index i in segs[k].
func (l *Log) cursorAt(k int, i uint64) (cursor, error) {
	return l.cursorFrom(k, func(s *segment) int { return s.offIdx.floor(int64(i), keyIndex) })
}

// frameFor returns the header of the frame of raft index i, which must be
// in the log, and with batch the header of the batch it carries (zero for
// none).
func (l *Log) frameFor(i uint64, batch bool) (frameHeader, BatchHeader, error) {
	c, err := l.cursorAt(l.segmentForIndex(i), i)
	defer c.close()
	if err != nil {
		return frameHeader{}, BatchHeader{}, err
	}
	for {
		f, ok, err := c.nextFrame()
		if err != nil {
			return frameHeader{}, BatchHeader{}, err
		}
		if !ok {
			return frameHeader{}, BatchHeader{}, fmt.Errorf("%w: raft index %d missing", ErrCorrupt, i)
		}
		if f.index != i {
			continue
		}
		var h BatchHeader
		if batch {
			h, _, err = f.batch()
		}
		return f.frameHeader, h, err
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
	h, _, err := l.frameFor(i, false /* batch */)
	return h.term, err
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
	c, err := l.cursorAt(l.segmentForIndex(lo), lo)
	defer c.close()
	if err != nil {
		return nil, err
	}
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
	f, h, err := l.frameFor(i, true /* batch */)
	if err != nil {
		return 0, 0, err
	}
	return f.baseOffset, h.RecordCount, nil
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
// that contains offset, up to raft index maxIndex (the commit index: see
// ReadFunc). It stops before the batch that would take the payload total
// past maxBytes, but always returns at least one batch when one is
// readable. Reading at NextOffset, or where the next batch is past maxIndex,
// returns nothing. Errors: ErrOffsetOutOfRange outside [StartOffset,
// NextOffset], ErrCorrupt, and ErrClosed (also when a read that crosses
// into another segment finds the log closed meanwhile).
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
// are valid only until fn returns. It holds the log's lock only to look up
// where to start and to pin each segment it reaches: finding the batches
// and fn run unlocked, so a slow fn delays neither appends nor other
// readers, and the pinned mappings outlive whatever the writer, the cache
// or Close do meanwhile.
//
// NB: maxIndex must be committed, as raft never truncates such entries:
// entries up to it (and the frame headers read to find them) are read
// unlocked, and a truncation cuts the file behind its readers.
func (l *Log) ReadFunc(offset int64, maxIndex uint64, maxBytes int, fn func([]Batch) error) error {
	// NB: c only keeps the pins, which its close releases.
	var (
		pins [4]hold
		c    = cursor{held: pins[:0], keep: true}
	)
	defer c.close()
	sp, pos, next, err := l.readStart(offset, &c)
	if err != nil {
		return err
	}
	var (
		out   []Batch
		total int
	)
	for {
		// NB: before the frame at pos, entry next, is touched: past the
		// commit index, it may be cut and rewritten meanwhile.
		if next > maxIndex || sp.s == nil {
			return fn(out)
		}
		if pos >= int64(len(sp.data)) {
			if sp.active {
				return fn(out) // the end of the log when the read looked
			}
			if sp, err = l.readEnter(next, &c); err != nil {
				return err
			}
			pos = 0
			continue
		}
		h, data, err := decodeFrame(sp.data[pos:])
		if err == nil && h.index != next {
			err = fmt.Errorf("%w: raft index %d, want %d", errOutOfSequence, h.index, next)
		}
		if err != nil {
			return sp.s.corrupt(pos, err)
		}
		pos += h.size()
		next++
		f := frame{h, data}
		bh, payload, err := f.batch()
		if err != nil {
			return err
		}
		if bh.RecordCount == 0 || f.baseOffset+int64(bh.RecordCount) <= offset {
			continue
		}
		if len(out) > 0 && total+len(payload) > maxBytes {
			return fn(out)
		}
		out = append(out, Batch{Index: f.index, Term: f.term, BaseOffset: f.baseOffset, Header: bh, Payload: payload})
		total += len(payload)
	}
}

// span is what ReadFunc reads of a segment: the log as published when it
// looked, in a mapping it pinned. A zero span is the end of the log.
type span struct {
	s      *segment // for its name only: its other fields are the Log's
	data   []byte   // the log up to the segment's size then
	active bool     // nothing followed it then
}

// pinSpan pins segs[k] for a walk without the lock, adding the pin to
// c.held, and returns it with the position and raft index of the frame pick
// chooses (under Log.mu).
func (l *Log) pinSpan(k int, c *cursor, pick func(*segment) int) (span, int64, uint64, error) {
	c.segs, c.pos, c.next = l.segs[k:k+1], 0, l.segs[k].base
	if err := l.place(c, pick); err != nil {
		return span{}, 0, 0, err
	}
	s, m := l.segs[k], c.held[len(c.held)-1].m
	return span{s: s, data: m.data[:s.size], active: s.active}, c.pos, c.next, nil
}

// readStart finds where ReadFunc starts: the segment holding offset, pinned,
// and the position and raft index of a frame at or before its batch.
func (l *Log) readStart(offset int64, c *cursor) (span, int64, uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return span{}, 0, 0, ErrClosed
	}
	if next := l.active().nextOffset; offset < l.boundary.NextOffset || offset > next {
		return span{}, 0, 0, fmt.Errorf("%w: offset %d, log holds [%d, %d)", ErrOffsetOutOfRange, offset, l.boundary.NextOffset, next)
	}
	k := l.segmentForOffset(offset)
	if k == len(l.segs) {
		return span{}, 0, 0, nil
	}
	return l.pinSpan(k, c, func(s *segment) int { return s.offIdx.floor(offset, keyA) })
}

// readEnter pins the segment that starts at raft index next, which the walk
// reached by finishing a sealed segment. A zero span when the log no longer
// holds it (deleted or reset meanwhile): the walk stops there.
func (l *Log) readEnter(next uint64, c *cursor) (span, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return span{}, ErrClosed
	}
	k := l.segmentForIndex(next)
	if k < 0 || l.segs[k].base != next {
		return span{}, nil
	}
	sp, _, _, err := l.pinSpan(k, c, atStart)
	return sp, err
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
		if off, found, err := l.offsetForTimeIn(k, ts, maxIndex); err != nil || found {
			return off, err
		}
	}
	return l.active().nextOffset, nil
}

// offsetForTimeIn is OffsetForTime within segs[k]; found is false when no
// batch of it qualifies.
func (l *Log) offsetForTimeIn(k int, ts int64, maxIndex uint64) (off int64, found bool, err error) {
	skip := uint64(0)
	c, err := l.cursorFrom(k, func(s *segment) int {
		// Every batch up to the last time-index entry below ts is below ts.
		j := s.timeIdx.floor(ts-1, keyA)
		if j < 0 || ts == noTimestamp {
			return -1
		}
		e := s.timeIdx.at(j)
		skip = e.index
		return s.offIdx.find(e.index)
	})
	defer c.close()
	if err != nil {
		return 0, false, err
	}
	c.segs = c.segs[:1]
	for {
		f, ok, err := c.nextFrame()
		if err != nil {
			return 0, false, err
		}
		if !ok {
			return 0, false, nil
		}
		if f.index > maxIndex {
			return l.active().nextOffset, true, nil
		}
		if f.index <= skip || f.index <= l.boundary.Index {
			continue
		}
		h, _, err := f.batch()
		if err != nil {
			return 0, false, err
		}
		if h.RecordCount > 0 && h.MaxTimestamp >= ts {
			return f.baseOffset, true, nil
		}
	}
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
