package segment

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

const (
	logExt       = ".log"
	indexExt     = ".index"
	timeIndexExt = ".timeindex"

	// noTimestamp is the max timestamp of a segment holding no records.
	noTimestamp = math.MinInt64

	// maxActiveMapping caps how far ahead of its writes the active segment is
	// mapped; the mapping grows (remaps) past it.
	maxActiveMapping = 64 << 20

	// minPreallocStep and maxPreallocStep bound how far ahead of its writes
	// the active segment's file is allocated (fallocate). Appending into
	// allocated blocks of a file whose size does not change lets fdatasync
	// skip the metadata journal commit that block allocation and a new file
	// size need: measured on the dev VM, 1 MiB write+fdatasync rounds went
	// from 240 MB/s to 1.2 GB/s. Redpanda preallocates segments in steps for
	// the same reason. The step starts small and doubles with each
	// allocation the segment's writes use up, so a partition reserves about
	// as much as it has written into its active segment, never more than
	// the largest step: a thousand idle partitions reserve 64 MiB, not 16
	// GiB, while a busy one reaches 16 MiB steps within its first 16 MiB.
	minPreallocStep = 64 << 10
	maxPreallocStep = 16 << 20
)

// segment is one log file and its two indexes. Segments are contiguous: a
// segment's first index is the previous one's last index + 1, and its base
// offset the previous one's next offset.
//
// The fields below the files are published state: changed only by the
// writer while holding Log.mu, read by readers under Log.mu (read lock). The
// writer reads them without the lock, since nobody else changes them.
//
// The files: the active segment has them open and mapped, guarded as the
// published state. A sealed segment keeps no file open (f is nil) and is
// mapped only while its Cache says so: m, data, offIdx and timeIdx are then
// guarded by Cache.mu, and used only between Cache.acquire and release
// (see cursor.enter). Everything else about a sealed segment is in memory.
// A read that runs its callback unlocked pins m instead (see ReadFunc).
type segment struct {
	base    uint64 // raft index of the first frame; names the files
	dir     string
	cache   *Cache
	f       *os.File // nil once sealed
	m       *mapping // read-only mapping of the log, nil when unmapped
	data    []byte   // m.data, or nil; len(data) >= size
	offIdx  *index
	timeIdx *index

	// Guarded by cache.mu, for sealed segments only.
	mapped   bool          // data, offIdx and timeIdx are mapped
	refs     int           // readers holding the mappings
	idleElem *list.Element // in cache.idle: mapped and no reader holds it

	size         int64
	allocated    int64  // the file's length: bytes [size, allocated) are zero
	lastIndex    uint64 // base-1 while empty
	lastTerm     uint64 // term of lastIndex (of base-1 while empty)
	baseOffset   int64
	nextOffset   int64
	maxTimestamp int64 // running max over batches with records, or noTimestamp
	created      time.Time
	active       bool

	// Writer-only state (guarded by Log.wmu).
	lastIndexedPos int64 // file position of the last offset-index entry, -1 if none
	lastIndexedTS  int64 // timestamp of the last time-index entry, or noTimestamp
	dirty          bool  // written since the last fdatasync
	preallocStep   int64 // the next preallocation's size; 0 means minPreallocStep
}

func segmentPath(dir string, base uint64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

// openSegmentFile opens (or, with create, creates empty) the log file of the
// segment starting at base. Indexes and state are set up by the caller.
func openSegmentFile(dir string, base uint64, create bool) (*segment, error) {
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE | os.O_TRUNC
	}
	f, err := fsops.OpenFile(segmentPath(dir, base, logExt), flags)
	if err != nil {
		return nil, err
	}
	s := &segment{base: base, dir: dir, f: f, lastIndex: base - 1, maxTimestamp: noTimestamp,
		lastIndexedPos: -1, lastIndexedTS: noTimestamp}
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	s.size, s.allocated = fi.Size(), fi.Size()
	if s.size > 0 {
		// NB: the file's birth is not kept across restarts; its mtime is a
		// later bound, so age-based rolling can only be late, never early.
		s.created = fi.ModTime()
	}
	return s, nil
}

// createSegment creates an empty active segment starting at base.
func createSegment(dir string, base uint64, baseOffset int64, prevTerm uint64, o Options) (*segment, error) {
	s, err := openSegmentFile(dir, base, true /* create */)
	if err != nil {
		return nil, err
	}
	s.cache = o.Cache
	s.baseOffset, s.nextOffset, s.lastTerm, s.active = baseOffset, baseOffset, prevTerm, true
	if err := s.mapActive(o.SegmentBytes); err != nil {
		return nil, errors.Join(err, s.close())
	}
	capacity := indexCapacity(o)
	if s.offIdx, err = createIndex(segmentPath(dir, base, indexExt), capacity); err != nil {
		return nil, errors.Join(err, s.close())
	}
	if s.timeIdx, err = createIndex(segmentPath(dir, base, timeIndexExt), capacity); err != nil {
		return nil, errors.Join(err, s.close())
	}
	return s, nil
}

func (s *segment) name() string { return fmt.Sprintf("%020d%s", s.base, logExt) }

func (s *segment) empty() bool { return s.lastIndex < s.base }

// corrupt wraps a decoding problem found at pos into ErrCorrupt.
func (s *segment) corrupt(pos int64, err error) error {
	return fmt.Errorf("%w: %s at position %d: %w", ErrCorrupt, s.name(), pos, err)
}

// mapLog maps the first length bytes of the log (at least size).
func (s *segment) mapLog(length int64) error {
	if err := s.dropMapping(); err != nil {
		return fmt.Errorf("munmap %s: %w", s.name(), err)
	}
	b, err := mapFile(s.f, max(length, s.size), false /* writable */)
	if err != nil {
		return err
	}
	s.setMapping(b)
	return nil
}

// setMapping makes b, from mapFile, the log's mapping; it must have none.
func (s *segment) setMapping(b []byte) {
	s.m, s.data = newMapping(b), b
}

// dropMapping lets go of the log's mapping: unmapped now, or by the last
// read that pins it.
func (s *segment) dropMapping() error {
	if s.m == nil {
		return nil
	}
	err := s.m.unpin()
	s.m, s.data = nil, nil
	return err
}

// mapActive maps the log ahead of its writes so that appends rarely remap.
func (s *segment) mapActive(segmentBytes int64) error {
	return s.mapLog(pageAlign(max(s.size, min(segmentBytes, maxActiveMapping))))
}

// ensureMapped grows the mapping to cover need bytes. Called by the writer
// under Log.mu, so that no reader looks s.m up meanwhile; reads that pinned
// the old mapping keep it until they let go.
func (s *segment) ensureMapped(need, segmentBytes int64) error {
	if int64(len(s.data)) >= need {
		return nil
	}
	grow := min(max(2*int64(len(s.data)), 1<<20), max(segmentBytes, need))
	return s.mapLog(pageAlign(max(need, grow)))
}

// indexMoment returns the index entries the frame at pos gets, if any, and
// advances the writer-side index state. runningMax includes the frame. The
// append path and recovery share it, so a rebuilt index equals the original.
//
// The offset index gets the first frame and then every frame that starts at
// least interval bytes after the last indexed one. The time index gets the
// same frames, but only when the running max timestamp has grown, so its
// timestamps increase strictly and an entry (i, ts) means "no batch up to i
// has a max timestamp above ts".
func (s *segment) indexMoment(pos int64, h frameHeader, runningMax int64, interval int, room bool) (off, ts indexEntry, addOff, addTS bool) {
	if !room || (s.lastIndexedPos >= 0 && pos-s.lastIndexedPos < int64(interval)) {
		return off, ts, false, false
	}
	s.lastIndexedPos = pos
	off, addOff = indexEntry{index: h.index, a: h.baseOffset, b: pos}, true
	if runningMax > s.lastIndexedTS {
		s.lastIndexedTS = runningMax
		ts, addTS = indexEntry{index: h.index, a: runningMax, b: h.baseOffset}, true
	}
	return off, ts, addOff, addTS
}

// scan validates the frames in [pos, end), which must follow the state
// s already holds, folding each into that state and its index entries. It
// returns where it stopped (end when everything was valid) and why.
func (s *segment) scan(pos, end int64, interval int) (int64, error) {
	for pos < end {
		if zeroTail(s.data[pos:end]) {
			return pos, errZeroTail
		}
		h, data, err := decodeFrame(s.data[pos:end])
		if err != nil {
			return pos, err
		}
		switch {
		case h.index != s.lastIndex+1:
			return pos, fmt.Errorf("%w: raft index %d, want %d", errOutOfSequence, h.index, s.lastIndex+1)
		case pos == 0:
			s.baseOffset, s.nextOffset = h.baseOffset, h.baseOffset
		case h.baseOffset != s.nextOffset:
			return pos, fmt.Errorf("%w: base offset %d, want %d", errOutOfSequence, h.baseOffset, s.nextOffset)
		case h.term < s.lastTerm:
			return pos, fmt.Errorf("%w: term %d after term %d", errOutOfSequence, h.term, s.lastTerm)
		}
		bh, ok, err := entryBatch(h.typ, data)
		if err != nil {
			return pos, err
		}
		var count uint32
		if ok && bh.RecordCount > 0 {
			count = bh.RecordCount
			s.maxTimestamp = max(s.maxTimestamp, bh.MaxTimestamp)
		}
		off, ts, addOff, addTS := s.indexMoment(pos, h, s.maxTimestamp, interval, s.indexRoom(0))
		if addOff {
			s.offIdx.append(off)
		}
		if addTS {
			s.timeIdx.append(ts)
		}
		s.lastIndex, s.lastTerm = h.index, h.term
		s.nextOffset = h.baseOffset + int64(count)
		pos += h.size()
	}
	return pos, nil
}

// zeroTail reports whether b, the rest of a segment file after its last
// frame, is the zeros of preallocation: no frame starts with a zero length.
func zeroTail(b []byte) bool {
	if len(b) >= 4 && (b[0]|b[1]|b[2]|b[3]) != 0 {
		return false // the common case: a frame is there
	}
	var zeros [4096]byte
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// endsAt takes a scan's result over the whole file: a zero tail means the
// data ends at stop (the rest is preallocation).
func (s *segment) endsAt(stop int64, err error) error {
	if errors.Is(err, errZeroTail) {
		s.size = stop
		return nil
	}
	return err
}

// preallocate makes the file at least need bytes long, a step ahead,
// without going past the segment size unless need does, and doubles the
// step. ok is false when the file system cannot preallocate; the caller then
// stops trying.
func (s *segment) preallocate(need, segmentBytes int64) (ok bool, err error) {
	if need <= s.allocated {
		return true, nil
	}
	step := max(s.preallocStep, minPreallocStep)
	s.preallocStep = min(2*step, maxPreallocStep)
	target := max(need, min(s.allocated+step, segmentBytes))
	if err := unix.Fallocate(int(s.f.Fd()), 0, s.allocated, target-s.allocated); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
			return false, nil
		}
		return true, fmt.Errorf("segment: preallocate %s: %w", s.name(), err)
	}
	s.allocated = target
	return true, nil
}

// cutFile truncates the file at pos, dropping its preallocation too: the
// bytes after a cut must read as zeros, never as stale frames.
func (s *segment) cutFile(pos int64) error {
	if err := s.f.Truncate(pos); err != nil {
		return err
	}
	s.allocated = pos
	return nil
}

// trim cuts the file to its data, dropping the preallocated zeros: done
// when a segment is sealed or closed, so files at rest hold only frames.
func (s *segment) trim() error {
	if s.allocated == s.size {
		return nil
	}
	if err := s.cutFile(s.size); err != nil {
		return fmt.Errorf("segment: trim %s: %w", s.name(), err)
	}
	s.dirty = true
	return nil
}

// indexRoom reports whether the offset index can take another entry beyond
// pending ones. A sealed (read-only) index takes none.
func (s *segment) indexRoom(pending int) bool {
	return s.offIdx.writable && s.offIdx.n+pending < s.offIdx.capacity()
}

// restoreFromIndex resets the state to just before the frame of the last
// kept offset-index entry and returns that frame's position (0 with no
// entries). The time index must hold no entry past that frame.
func (s *segment) restoreFromIndex() int64 {
	s.maxTimestamp, s.lastIndexedTS = noTimestamp, noTimestamp
	if e, ok := s.timeIdx.last(); ok {
		s.maxTimestamp, s.lastIndexedTS = e.a, e.a
	}
	e, ok := s.offIdx.last()
	if !ok {
		s.lastIndex, s.nextOffset, s.lastIndexedPos = s.base-1, s.baseOffset, -1
		return 0
	}
	// NB: lastTerm is unknown here (0 disables the term check); scanning the
	// indexed frame sets it.
	s.lastIndex, s.lastTerm, s.nextOffset, s.lastIndexedPos = e.index-1, 0, e.a, e.b
	return e.b
}

// offsetEntryValid checks offset-index entry i against the log: ordered
// after entry i-1 and pointing at a frame with the same index and offset.
func (s *segment) offsetEntryValid(i int) bool {
	e := s.offIdx.at(i)
	if i == 0 {
		if e.index != s.base || e.b != 0 {
			return false
		}
	} else if p := s.offIdx.at(i - 1); e.index <= p.index || e.a < p.a || e.b <= p.b {
		return false
	}
	if e.b < 0 || e.b >= s.size {
		return false
	}
	h, err := parseFrameHeader(s.data[e.b:s.size])
	return err == nil && h.index == e.index && h.baseOffset == e.a
}

// timeEntryValid checks time-index entry j: ordered after entry j-1 and
// taken at the same frame as an offset-index entry.
func (s *segment) timeEntryValid(j int) bool {
	e := s.timeIdx.at(j)
	if j > 0 {
		if p := s.timeIdx.at(j - 1); e.index <= p.index || e.a <= p.a {
			return false
		}
	}
	k := s.offIdx.find(e.index)
	return k >= 0 && s.offIdx.at(k).a == e.b
}

// syncForSeal is the slow half of sealing, done outside Log.mu: the log is
// fdatasync'd and the indexes msync'd. remapSealed then truncates the indexes
// to their used size, fsyncs them and maps everything read-only.
func (s *segment) syncForSeal() error {
	if err := s.trim(); err != nil {
		return err
	}
	if err := fsops.Fdatasync(s.f); err != nil {
		return err
	}
	s.dirty = false
	if err := msync(s.offIdx.data); err != nil {
		return err
	}
	return msync(s.timeIdx.data)
}

// syncIndexes makes the active segment's indexes durable as they are, so
// that a crash cannot bring back entries they dropped: such an entry could
// name a frame of the same index and offset written since, with another
// timestamp.
func (s *segment) syncIndexes() error {
	return errors.Join(msync(s.offIdx.data), msync(s.timeIdx.data), fsops.Fsync(s.offIdx.f), fsops.Fsync(s.timeIdx.f))
}

// remapSealed maps a sealed segment exactly, closes its files and hands the
// mappings to the cache (called under Log.mu, so that no reader sees the
// segment sealed before the cache knows it is mapped).
func (s *segment) remapSealed() error {
	s.active = false
	if err := s.mapLog(s.size); err != nil {
		return err
	}
	if err := errors.Join(s.offIdx.seal(), s.timeIdx.seal()); err != nil {
		return err
	}
	if err := s.closeFiles(); err != nil {
		return err
	}
	s.cache.adopt(s)
	return nil
}

// closeFiles closes the files of a segment whose mappings stay: a sealed
// segment needs no descriptor.
func (s *segment) closeFiles() error {
	err := s.f.Close()
	s.f = nil
	for _, x := range []*index{s.offIdx, s.timeIdx} {
		if x != nil && x.f != nil {
			err = errors.Join(err, x.f.Close())
			x.f = nil
		}
	}
	return err
}

// activate makes a sealed segment writable again, when truncation of an
// uncommitted suffix makes it the last one (called under Log.mu, so no
// reader holds its mappings): it leaves the cache and its files are opened
// again.
func (s *segment) activate(o Options) error {
	if err := s.cache.forget(s); err != nil {
		return err
	}
	f, err := fsops.OpenFile(segmentPath(s.dir, s.base, logExt), os.O_RDWR)
	if err != nil {
		return err
	}
	s.f, s.allocated, s.active = f, s.size, true
	if err := s.mapActive(o.SegmentBytes); err != nil {
		return err
	}
	capacity := indexCapacity(o)
	if s.offIdx, err = openOrCreateIndex(segmentPath(s.dir, s.base, indexExt), capacity); err != nil {
		return err
	}
	s.timeIdx, err = openOrCreateIndex(segmentPath(s.dir, s.base, timeIndexExt), capacity)
	return err
}

// close releases the segment's files and mappings; a sealed segment's
// mappings go through its cache.
func (s *segment) close() error {
	if s.f == nil {
		if s.cache == nil {
			return nil
		}
		return s.cache.forget(s)
	}
	err := s.dropMapping()
	if s.offIdx != nil {
		err = errors.Join(err, s.offIdx.close())
	}
	if s.timeIdx != nil {
		err = errors.Join(err, s.timeIdx.close())
	}
	return errors.Join(err, s.f.Close())
}

// remove closes the segment and deletes its files.
// NB: the log goes first: an index without its log is an orphan that Open
// deletes, while a log without its index is merely re-indexed.
func (s *segment) remove(dir string) error {
	err := s.close()
	return errors.Join(err, removeSegmentFiles(dir, s.base))
}

func removeSegmentFiles(dir string, base uint64) error {
	var err error
	for _, ext := range []string{logExt, indexExt, timeIndexExt} {
		if rerr := fsops.Remove(segmentPath(dir, base, ext)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}
