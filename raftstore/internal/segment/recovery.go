package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// Open opens or creates the log in dir and recovers it. Zero Options fields
// take defaults. Recovery reads only the tail of each segment, so its cost
// does not grow with the log: see doc.go. It fails with ErrCorrupt, leaving
// every file as it found it, when synced data is damaged.
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := fsops.MkdirAll(dir); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts, logger: opts.Logger.With("dir", dir)}
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			err = errors.Join(err, s.close())
		}
		if l.mark != nil {
			err = errors.Join(err, l.mark.close(false /* flush */))
		}
		return nil, fmt.Errorf("segment: open %s: %w", dir, err)
	}
	return l, nil
}

func (l *Log) recover() error {
	mark, synced, known, created, err := openSyncedMark(l.dir)
	if err != nil {
		return err
	}
	l.mark, l.dirDirty = mark, created
	if !known && !created {
		l.logger.Warn("segment: synced position unreadable; trusting no byte of the active segment", "file", syncedFile)
	}
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	b, hasBoundary, err := readBoundary(l.dir)
	if err != nil {
		return err
	}
	// Finish a DeleteBefore or SetBoundary interrupted after it recorded the
	// boundary: a segment followed by one starting at or before the log
	// start holds nothing of the log.
	for hasBoundary && len(bases) > 1 && bases[1] <= b.Index+1 {
		if err := removeSegmentFiles(l.dir, bases[0]); err != nil {
			return err
		}
		bases = bases[1:]
	}
	for i, base := range bases {
		s, err := openSegmentFile(l.dir, base, false /* create */)
		if err != nil {
			return err
		}
		s.cache = l.opts.Cache
		l.segs = append(l.segs, s)
		if i == len(bases)-1 {
			var bound int64
			if bound, err = l.syncedBound(s, synced, known); err == nil {
				err = l.recoverActive(s, bound)
			}
		} else {
			// NB: what the log needs of a sealed segment stays in memory;
			// its files are closed until a read needs them.
			err = errors.Join(l.recoverSealed(s), s.releaseRecovered())
		}
		if err != nil {
			return err
		}
	}
	if err := l.chain(b, hasBoundary); err != nil {
		return err
	}
	if len(l.segs) == 0 {
		s, err := createSegment(l.dir, b.Index+1, b.NextOffset, b.Term, l.opts)
		if err != nil {
			return err
		}
		l.segs, l.boundary, l.dirDirty = []*segment{s}, b, true
		return l.mark.lower(syncedPos{base: s.base})
	}
	return l.reconcileBoundary(b, hasBoundary)
}

// listSegments returns the base indexes of the log files, sorted, after
// deleting stray temp files and indexes whose log is gone.
func (l *Log) listSegments() ([]uint64, error) {
	names, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	logs := map[string]bool{}
	var bases []uint64
	for _, d := range names {
		if base, ok := strings.CutSuffix(d.Name(), logExt); ok {
			n, err := strconv.ParseUint(base, 10, 64)
			if err != nil || len(base) != 20 {
				return nil, fmt.Errorf("unexpected file %s", d.Name())
			}
			logs[base] = true
			bases = append(bases, n)
		}
	}
	for _, d := range names {
		name := d.Name()
		stem := strings.TrimSuffix(strings.TrimSuffix(name, indexExt), timeIndexExt)
		orphan := stem != name && !logs[stem]
		if strings.HasSuffix(name, ".tmp") || orphan {
			l.logger.Warn("segment: deleting stray file", "file", name)
			if err := fsops.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// loadIndexes opens both indexes of s; missing files come back nil.
func (l *Log) loadIndexes(s *segment, writable bool) error {
	capacity := indexCapacity(l.opts)
	var err error
	s.offIdx, err = openIndex(segmentPath(l.dir, s.base, indexExt), writable, writable, capacity)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.timeIdx, err = openIndex(segmentPath(l.dir, s.base, timeIndexExt), writable, writable, capacity)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// rebuildIndexes recreates both indexes of s from its log up to end.
func (l *Log) rebuildIndexes(s *segment, end int64) (int64, error) {
	for _, x := range []*index{s.offIdx, s.timeIdx} {
		if x != nil {
			if err := x.close(); err != nil {
				return 0, err
			}
		}
	}
	s.offIdx, s.timeIdx = nil, nil
	capacity := max(indexCapacity(l.opts), int(min(end/int64(l.opts.IndexIntervalBytes)+2, maxIndexBytes/indexEntrySize)))
	var err error
	if s.offIdx, err = createIndex(segmentPath(l.dir, s.base, indexExt), capacity); err != nil {
		return 0, err
	}
	if s.timeIdx, err = createIndex(segmentPath(l.dir, s.base, timeIndexExt), capacity); err != nil {
		return 0, err
	}
	s.restoreFromIndex()
	return s.scan(0, end, l.opts.IndexIntervalBytes)
}

// sealedIndexesValid checks a sealed segment's indexes cheaply: sizes, the
// first and last offset entries against the log, the last time entry
// against the offset index. Lookups verify every other entry they use.
func (s *segment) sealedIndexesValid() bool {
	if s.offIdx == nil || s.timeIdx == nil || s.offIdx.n == 0 {
		return false
	}
	n, m := s.offIdx.n, s.timeIdx.n
	if !s.offsetEntryValid(0) || !s.offsetEntryValid(n-1) {
		return false
	}
	return m == 0 || (s.timeEntryValid(m-1) && s.timeIdx.at(m-1).index <= s.offIdx.at(n-1).index)
}

// recoverSealed restores a sealed segment's state from its last index entry
// plus the frames after it (about IndexIntervalBytes). A sealed segment was
// fdatasync'd when it was rolled, so any bad frame in it is corruption.
func (l *Log) recoverSealed(s *segment) error {
	if err := s.mapLog(s.size); err != nil {
		return err
	}
	if err := l.loadIndexes(s, false /* writable */); err != nil {
		return err
	}
	if s.sealedIndexesValid() {
		if err := s.readBaseOffset(); err != nil {
			return s.corrupt(0, err)
		}
		start := s.restoreFromIndex()
		if pos, err := s.scan(start, s.size, l.opts.IndexIntervalBytes); s.endsAt(pos, err) != nil {
			return s.corrupt(pos, err)
		}
		return s.trimRecovered()
	}
	l.logger.Warn("segment: rebuilding index", "file", s.name())
	if pos, err := l.rebuildIndexes(s, s.size); s.endsAt(pos, err) != nil {
		return s.corrupt(pos, err)
	}
	// seal msyncs, trims and fsyncs each index.
	return errors.Join(s.trimRecovered(), s.offIdx.seal(), s.timeIdx.seal())
}

// releaseRecovered closes the files and mappings recovery used on a sealed
// segment: it is mapped again, through the cache, when first read.
func (s *segment) releaseRecovered() error {
	err := s.close()
	s.f, s.m, s.data, s.offIdx, s.timeIdx = nil, nil, nil, nil, nil
	return err
}

// syncedBound returns how many leading bytes of the last segment s the
// synced mark shows to be durable. A mark in an earlier segment (or none)
// says nothing about s: 0. A mark in a later segment means a segment that
// was synced has gone: corruption.
func (l *Log) syncedBound(s *segment, at syncedPos, known bool) (int64, error) {
	switch {
	case !known || at.base < s.base:
		return 0, nil
	case at.base > s.base:
		return 0, fmt.Errorf("%w: %s records segment %d as synced, but the last segment is %s",
			ErrCorrupt, syncedFile, at.base, s.name())
	}
	return at.pos, nil
}

// recoverActive restores the last segment, whose first bound bytes were
// synced: from its last index entry that matches the log at or before
// bound, it validates every frame to the end. A bad frame at or after bound
// starts the unsynced tail a power cut may have garbled in any way (a later
// block kept, an earlier one lost): it is cut off there, whatever follows.
// A bad frame before bound is corruption of synced data, reported without
// changing the log.
func (l *Log) recoverActive(s *segment, bound int64) error {
	s.active = true
	if err := s.mapActive(l.opts.SegmentBytes); err != nil {
		return err
	}
	if err := l.loadIndexes(s, true /* writable */); err != nil {
		return err
	}
	// NB: no entry past bound: between bound and such an entry the frames
	// may be garbage, and the scan must see them.
	n, found := s.offIdx.n, s.offIdx.n+s.timeIdx.n
	for n > 0 && (!s.offsetEntryValid(n-1) || s.offIdx.at(n-1).b > bound) {
		n--
	}
	s.offIdx.truncate(n)
	keep := 0
	if e, ok := s.offIdx.last(); ok {
		keep = s.timeIdx.floor(int64(e.index), keyIndex) + 1
	}
	s.timeIdx.truncate(keep)
	if (keep > 0 && !s.timeEntryValid(keep-1)) || s.readBaseOffset() != nil {
		// The running max the time index records cannot be trusted, or the
		// first frame is bad: scan everything.
		s.offIdx.truncate(0)
		s.timeIdx.truncate(0)
	}
	// NB: the scan restarts from the running max of the last time entry, so
	// it must start at that entry's frame: the time index may have lost
	// entries the offset index kept (neither is synced), and the running
	// max at a later offset entry is then unknown.
	if e, ok := s.timeIdx.last(); ok {
		s.offIdx.truncate(s.offIdx.find(e.index) + 1)
	} else {
		s.offIdx.truncate(0)
	}
	start := s.restoreFromIndex()
	stop, err := s.scan(start, s.size, l.opts.IndexIntervalBytes)
	if err = s.endsAt(stop, err); err == nil && s.size >= bound {
		// A zero tail is preallocation: appends go on over it.
		return l.syncRecovered(s, s.size > bound, s.offIdx.n+s.timeIdx.n != found)
	}
	if err == nil {
		err = fmt.Errorf("%w: data ends before the synced position %d", errFrameShort, bound)
	}
	if stop < bound {
		return s.corrupt(stop, err)
	}
	if stop == start && start > 0 {
		// The indexed frame itself is torn: index from scratch up to it.
		if pos, err := l.rebuildIndexes(s, stop); err != nil {
			return s.corrupt(pos, err)
		}
	}
	l.logger.Warn("segment: truncating unsynced tail", "file", s.name(), "position", stop,
		"bytes", s.size-stop, "synced", bound, "reason", err.Error())
	if err := s.cutFile(stop); err != nil {
		return err
	}
	s.size = stop
	return l.syncRecovered(s, true /* log changed */, true /* indexes changed */)
}

// syncRecovered makes the recovered active segment durable when it holds
// more than was known synced, or was cut: after a process crash its tail may
// be only in the page cache, and once Open returns the owner counts every
// entry as stable. The mark then covers it all. Indexes whose entries
// changed are synced too, for the reason truncateAfter syncs them.
func (l *Log) syncRecovered(s *segment, logChanged, indexesChanged bool) error {
	if logChanged {
		if err := fsops.Fdatasync(s.f); err != nil {
			return err
		}
	}
	if indexesChanged {
		if err := s.syncIndexes(); err != nil {
			return err
		}
	}
	return l.mark.advance(syncedPos{base: s.base, pos: s.size}, l.mark.currentEpoch())
}

// trimRecovered drops the zero tail a sealed segment can have if a crash
// came between its last write and its sealing trim.
func (s *segment) trimRecovered() error {
	if s.size == s.allocated {
		return nil
	}
	if err := s.trim(); err != nil {
		return err
	}
	if err := fsops.Fdatasync(s.f); err != nil {
		return err
	}
	s.dirty = false
	return nil
}

// readBaseOffset takes the segment's base offset from its first frame, for
// a scan that starts further on.
func (s *segment) readBaseOffset() error {
	if s.size == 0 {
		return nil
	}
	h, _, err := decodeFrame(s.data[:s.size])
	if err != nil {
		return err
	}
	if h.index != s.base {
		return fmt.Errorf("%w: first raft index %d, want %d", errOutOfSequence, h.index, s.base)
	}
	s.baseOffset = h.baseOffset
	return nil
}

// chain checks that the segments follow each other and fills in the offsets
// of an empty last segment from its predecessor or the boundary.
func (l *Log) chain(b Boundary, hasBoundary bool) error {
	for i, s := range l.segs {
		if i == 0 {
			if s.empty() && hasBoundary && b.Index+1 == s.base {
				s.baseOffset, s.nextOffset, s.lastTerm = b.NextOffset, b.NextOffset, b.Term
			}
			continue
		}
		prev := l.segs[i-1]
		if s.base != prev.lastIndex+1 {
			return fmt.Errorf("%w: %s starts at index %d but %s ends at %d", ErrCorrupt, s.name(), s.base, prev.name(), prev.lastIndex)
		}
		if s.empty() {
			s.baseOffset, s.nextOffset, s.lastTerm = prev.nextOffset, prev.nextOffset, prev.lastTerm
		} else if s.baseOffset != prev.nextOffset {
			return fmt.Errorf("%w: %s starts at offset %d but %s ends at %d", ErrCorrupt, s.name(), s.baseOffset, prev.name(), prev.nextOffset)
		}
	}
	return nil
}

// reconcileBoundary sets the boundary from the boundary file and the first
// segment, finishing an interrupted SetBoundary.
func (l *Log) reconcileBoundary(b Boundary, hasBoundary bool) error {
	first := l.segs[0]
	switch {
	case !hasBoundary || b.Index+1 < first.base:
		if first.base > 1 {
			// The owner's SetBoundary on open supplies the missing term.
			l.logger.Warn("segment: log start not recorded; term before it unknown", "first_index", first.base)
		}
		l.boundary = Boundary{Index: first.base - 1, NextOffset: first.baseOffset}
		if first.empty() {
			l.boundary.Term = first.lastTerm
		}
		return nil
	case b.Index+1 == first.base:
		if first.baseOffset != b.NextOffset {
			return fmt.Errorf("%w: %s starts at offset %d, boundary says %d", ErrCorrupt, first.name(), first.baseOffset, b.NextOffset)
		}
		l.boundary = b
		return nil
	}
	// The boundary falls inside or after the first segment.
	l.boundary = Boundary{Index: first.base - 1, NextOffset: first.baseOffset}
	keep, err := l.agrees(b)
	if err != nil {
		return err
	}
	if !keep {
		l.logger.Warn("segment: log disagrees with its recorded start; resetting", "boundary_index", b.Index)
		return l.resetTo(b)
	}
	l.boundary = b
	return nil
}
