package segment

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// Append writes entries, which must have contiguous raft indexes, with one
// write() per segment touched. If entries[0].Index <= LastIndex, the log is
// first truncated to entries[0].Index-1: raft is replacing an uncommitted
// suffix, and the offsets of the new entries are computed afresh. Entries
// before FirstIndex are committed and compacted, hence identical to what was
// there: they are skipped. entries[0].Index > LastIndex+1 is an error, and so
// is a normal entry whose non-empty Data is not a batch. Nothing is durable
// until Sync.
func (l *Log) Append(entries []raftpb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Index != entries[i-1].Index+1 {
			return fmt.Errorf("segment: append: index %d follows %d", entries[i].Index, entries[i-1].Index)
		}
	}
	first, last := l.boundary.Index+1, l.lastIndex()
	if entries[len(entries)-1].Index < first {
		return nil
	}
	if entries[0].Index < first {
		entries = entries[first-entries[0].Index:]
	}
	if entries[0].Index > last+1 {
		return fmt.Errorf("segment: append at index %d leaves a gap after last index %d", entries[0].Index, last)
	}
	// NB: validate before truncating, so that a rejected append changes nothing.
	for i := range entries {
		if _, _, err := entryBatch(entries[i].Type, entries[i].Data); err != nil {
			return fmt.Errorf("segment: append index %d: %w", entries[i].Index, err)
		}
	}
	if entries[0].Index <= last {
		if err := l.truncateAfter(entries[0].Index - 1); err != nil {
			return err
		}
	}
	return l.write(entries)
}

// write appends frames to the active segment, rolling it as needed.
func (l *Log) write(entries []raftpb.Entry) error {
	s := l.active()
	aged := l.opts.SegmentMaxAge > 0 && !s.created.IsZero() && time.Since(s.created) > l.opts.SegmentMaxAge
	// Tentative state of s, published by flush.
	lastIndex, lastTerm, next, maxTS := s.lastIndex, s.lastTerm, s.nextOffset, s.maxTimestamp
	pendingOff := 0
	for i := range entries {
		e := &entries[i]
		full := s.size+int64(len(l.buf)) >= l.opts.SegmentBytes || !s.indexRoom(pendingOff)
		if lastIndex >= s.base && (full || aged) {
			if err := l.flush(s, lastIndex, lastTerm, next, maxTS); err != nil {
				return err
			}
			if err := l.roll(); err != nil {
				return err
			}
			s, aged, pendingOff = l.active(), false, 0
			next, maxTS = s.nextOffset, s.maxTimestamp
		}
		h, ok, _ := entryBatch(e.Type, e.Data) // validated by Append
		var count uint32
		if ok && h.RecordCount > 0 {
			count = h.RecordCount
			maxTS = max(maxTS, h.MaxTimestamp)
		}
		pos := s.size + int64(len(l.buf))
		fh := frameHeader{index: e.Index, baseOffset: next}
		off, ts, addOff, addTS := s.indexMoment(pos, fh, maxTS, l.opts.IndexIntervalBytes, s.indexRoom(pendingOff))
		if addOff {
			l.pending = append(l.pending, pendingIndex{entry: off})
			pendingOff++
		}
		if addTS {
			l.pending = append(l.pending, pendingIndex{entry: ts, time: true})
		}
		l.buf = appendFrame(l.buf, e, next)
		lastIndex, lastTerm, next = e.Index, e.Term, next+int64(count)
	}
	return l.flush(s, lastIndex, lastTerm, next, maxTS)
}

// maxKeptBuffer is the largest write buffer a log keeps between appends.
const maxKeptBuffer = 1 << 20

// flush writes the buffered frames to s and publishes them with the given
// state.
func (l *Log) flush(s *segment, lastIndex, lastTerm uint64, next, maxTS int64) error {
	defer func() {
		l.buf, l.pending = l.buf[:0], l.pending[:0]
		// NB: a burst grows buf to a whole append group (many entries of
		// up to 32 MiB); kept, it would stay that large for the life of
		// the partition, each partition's largest burst held at once.
		if cap(l.buf) > maxKeptBuffer {
			l.buf = nil
		}
	}()
	if len(l.buf) == 0 {
		return nil
	}
	size := s.size + int64(len(l.buf))
	s.dirty = true
	if !l.noPrealloc {
		ok, err := s.preallocate(size, l.opts.SegmentBytes)
		if err != nil {
			return err
		}
		l.noPrealloc = !ok
	}
	if _, err := s.f.WriteAt(l.buf, s.size); err != nil {
		// NB: never leave bytes past the published size: the next write
		// could be shorter and recovery would meet the leftovers.
		return errors.Join(fmt.Errorf("segment: write %s: %w", s.name(), err), s.cutFile(s.size))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := s.ensureMapped(size, l.opts.SegmentBytes); err != nil {
		return errors.Join(err, s.cutFile(s.size))
	}
	for _, p := range l.pending {
		if p.time {
			s.timeIdx.append(p.entry)
		} else {
			s.offIdx.append(p.entry)
		}
	}
	if s.created.IsZero() {
		s.created = time.Now()
	}
	s.size, s.lastIndex, s.lastTerm, s.nextOffset, s.maxTimestamp = size, lastIndex, lastTerm, next, maxTS
	return nil
}

// Roll seals the active segment, unless it is empty, and starts a new one
// after it, so that DeleteBefore can reach the entries it held: the owner
// of a state machine's log rolls it when a snapshot covers those entries.
// Like a roll on a full segment, the new segment's directory entry is
// durable after the next Sync.
func (l *Log) Roll() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.active().empty() {
		return nil
	}
	return l.roll()
}

// roll seals the active segment and starts a new one after it.
func (l *Log) roll() error {
	s := l.active()
	if err := s.syncForSeal(); err != nil {
		return fmt.Errorf("segment: seal %s: %w", s.name(), err)
	}
	l.mu.Lock()
	err := s.remapSealed()
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("segment: seal %s: %w", s.name(), err)
	}
	// NB: the directory entries of the segments so far are made durable
	// before a later one exists, so that a crash cannot keep the new segment
	// and lose an older one (a gap in the log). One fsync per roll.
	if l.dirDirty {
		if err := fsops.SyncDir(l.dir); err != nil {
			return fmt.Errorf("segment: roll: fsync %s: %w", l.dir, err)
		}
		l.dirDirty = false
	}
	ns, err := createSegment(l.dir, s.lastIndex+1, s.nextOffset, s.lastTerm, l.opts)
	if err != nil {
		return fmt.Errorf("segment: roll: %w", err)
	}
	l.mu.Lock()
	l.segs = append(l.segs, ns)
	l.mu.Unlock()
	l.dirDirty = true
	return nil
}

// truncateAfter removes the entries after idx (FirstIndex-1 <= idx <
// LastIndex): whole later segments are deleted and the segment holding idx+1
// is cut at that frame, which rewinds the next offset.
//
// The bytes it drops may have been synced, and a power cut must not bring
// them back beside the new entries written over them (an old frame followed
// by a new one would be a log that never existed), so the truncation is made
// durable before it returns, each step before the next: the synced mark is
// lowered to the cut, each deleted segment is gone from the directory
// before an older one is deleted, and the cut file and its indexes are
// synced. Truncations are rare (a new leader replacing an uncommitted
// suffix), so these syncs stay off the append path.
func (l *Log) truncateAfter(idx uint64) error {
	k := max(l.segmentForIndex(idx+1), 0)
	hold := l.segs[k]
	cut, prevTerm, err := l.locate(k, idx+1)
	if err != nil {
		return err
	}
	// NB: before any byte before the mark changes.
	if err := l.mark.lower(syncedPos{base: hold.base, pos: cut}); err != nil {
		return fmt.Errorf("segment: truncate: %w", err)
	}
	doomed := l.segs[k+1:]
	l.mu.Lock()
	l.segs = l.segs[: k+1 : k+1]
	l.mu.Unlock()
	// NB: newest first, each deletion durable before the next, so that a
	// crash leaves a prefix of the old log, never one with a gap.
	for i := len(doomed) - 1; i >= 0; i-- {
		if err := doomed[i].remove(l.dir); err != nil {
			return fmt.Errorf("segment: truncate: %w", err)
		}
		if err := fsops.SyncDir(l.dir); err != nil {
			return fmt.Errorf("segment: truncate: fsync %s: %w", l.dir, err)
		}
	}

	l.mu.Lock()
	err = l.cutSegment(hold, cut, prevTerm)
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("segment: truncate %s at %d: %w", hold.name(), cut, err)
	}
	// NB: the file shrinks only once readers can no longer see the bytes.
	if err := hold.cutFile(cut); err != nil {
		return fmt.Errorf("segment: truncate %s: %w", hold.name(), err)
	}
	if err := errors.Join(fsops.Fdatasync(hold.f), hold.syncIndexes()); err != nil {
		return fmt.Errorf("segment: truncate %s: %w", hold.name(), err)
	}
	hold.dirty = false
	return nil
}

// locate returns the file position of the frame for raft index i in
// segs[k] (its size if i is one past its end) and the term of i-1.
func (l *Log) locate(k int, i uint64) (int64, uint64, error) {
	s := l.segs[k]
	prevTerm := l.boundary.Term
	if k > 0 {
		prevTerm = l.segs[k-1].lastTerm
	}
	if i > s.lastIndex {
		return s.size, s.lastTerm, nil
	}
	var (
		c   cursor
		err error
	)
	if i == s.base {
		c, err = l.cursorFrom(k, atStart)
		c.segs = c.segs[:1]
	} else {
		c, err = l.cursorAt(k, i-1)
	}
	defer c.close()
	if err != nil {
		return 0, 0, err
	}
	for {
		pos := c.pos
		f, ok, err := c.nextFrame()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return 0, 0, s.corrupt(pos, fmt.Errorf("%w: index %d not found", errOutOfSequence, i))
		}
		if f.index == i {
			return pos, prevTerm, nil
		}
		prevTerm = f.term
	}
}

// cutSegment makes pos the end of s, which becomes active (under mu).
func (l *Log) cutSegment(s *segment, pos int64, prevTerm uint64) error {
	if !s.active {
		if err := s.activate(l.opts); err != nil {
			return err
		}
	}
	s.offIdx.truncate(s.offIdx.floor(pos-1, func(e indexEntry) int64 { return e.b }) + 1)
	keepTS := 0
	if e, ok := s.offIdx.last(); ok {
		keepTS = s.timeIdx.floor(int64(e.index), keyIndex) + 1
	}
	s.timeIdx.truncate(keepTS)
	start := s.restoreFromIndex()
	s.size = pos
	if pos == 0 {
		s.lastTerm = prevTerm
		return nil
	}
	if _, err := s.scan(start, pos, l.opts.IndexIntervalBytes); err != nil {
		return s.corrupt(start, err)
	}
	return nil
}
