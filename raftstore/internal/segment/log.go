package segment

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// Options configures a Log. Zero fields take the defaults.
type Options struct {
	// SegmentBytes rolls the active segment once it is at least this big.
	// Default 1 GiB.
	SegmentBytes int64
	// SegmentMaxAge rolls the active segment once its first entry was
	// appended longer ago than this (after a restart: its file's mtime).
	// 0 never rolls by age.
	SegmentMaxAge time.Duration
	// IndexIntervalBytes is the spacing of offset-index entries. Default 4096.
	IndexIntervalBytes int
	// Logger receives recovery warnings. Default slog.Default().
	Logger *slog.Logger
	// Cache bounds the sealed segments mapped at a time; Logs that share
	// one share its bound, so a process passes the same Cache to all of
	// them. Default: a cache of DefaultOpenSealedSegments that every Log
	// opened without one shares.
	Cache *Cache
}

const (
	defaultSegmentBytes  = 1 << 30
	defaultIndexInterval = 4096
)

func (o Options) withDefaults() (Options, error) {
	if o.SegmentBytes < 0 || o.SegmentMaxAge < 0 || o.IndexIntervalBytes < 0 {
		return o, fmt.Errorf("segment: negative option in %+v", o)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	if o.IndexIntervalBytes == 0 {
		o.IndexIntervalBytes = defaultIndexInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Cache == nil {
		o.Cache = defaultCache
	}
	return o, nil
}

// Log is the raft log of one partition, which is also its data log. It is
// safe for one writer goroutine (Append, DeleteBefore, SetBoundary, Close)
// plus Sync from another, and any number of concurrent readers.
type Log struct {
	dir    string
	opts   Options
	logger *slog.Logger

	// mark records the synced position (see synced.go).
	mark *syncedMark
	// smu serializes Syncs, so that a Sync returns only once every write
	// before it is durable, even when another Sync took its files.
	// NB: lock order is smu, wmu, mu, then mark.mu or opts.Cache's mu,
	// both innermost (see doc.go, Concurrency).
	smu sync.Mutex

	// wmu serializes the writer's operations and guards the fields below it
	// and each segment's writer-only fields.
	// NB: lock order is wmu, then mu (see smu). Readers take only mu (read
	// lock). Most copy what they return before releasing it; ReadFunc pins
	// the mappings it reads instead (see mapping), so that the writer can
	// drop a segment's mapping once it holds mu either way.
	wmu      sync.Mutex
	buf      []byte
	pending  []pendingIndex
	dirDirty bool // segment files were created or deleted since the last Sync
	// noPrealloc is set once the file system refused fallocate.
	noPrealloc bool

	// mu guards segs, boundary and every segment's published state (see
	// segment). closed is written holding both locks, so either suffices to
	// read it.
	// NB: a sealed segment's mappings are guarded by opts.Cache's mutex,
	// taken under mu (see Cache and cursor.enter), or alone to release a
	// hold. A mapping's reference count is atomic, no lock.
	mu       sync.RWMutex
	segs     []*segment // oldest first; the last one is active
	boundary Boundary   // the entry just before FirstIndex
	closed   bool
}

// pendingIndex is an index entry of a frame written but not yet published.
type pendingIndex struct {
	entry indexEntry
	time  bool // a time-index entry
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// FirstIndex is the first raft index in the log; for an empty log, the index
// after the boundary (1 for a new log).
func (l *Log) FirstIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.boundary.Index + 1
}

// LastIndex is the last raft index in the log; FirstIndex()-1 when empty.
func (l *Log) LastIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lastIndex()
}

func (l *Log) lastIndex() uint64 { return max(l.active().lastIndex, l.boundary.Index) }

// Boundary returns the entry just before the log start (index 0 for a log
// that starts at 1).
func (l *Log) Boundary() Boundary {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.boundary
}

// StartOffset is the offset of the first record in the log.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.boundary.NextOffset
}

// NextOffset is the offset the next appended record gets.
func (l *Log) NextOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.active().nextOffset
}

// Size is the total size of the log files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// SegmentInfo describes one segment, for retention decisions.
type SegmentInfo struct {
	FirstIndex, LastIndex  uint64 // LastIndex = FirstIndex-1 when empty
	BaseOffset, NextOffset int64
	// MaxTimestamp is the largest batch max timestamp in the segment, or
	// math.MinInt64 when it holds no records.
	MaxTimestamp int64
	Size         int64
	Active       bool
}

// Segments lists the segments oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = SegmentInfo{
			// NB: after a snapshot the boundary may fall inside the first
			// segment; what precedes it is not part of the log.
			FirstIndex:   max(s.base, l.boundary.Index+1),
			LastIndex:    s.lastIndex,
			BaseOffset:   max(s.baseOffset, l.boundary.NextOffset),
			NextOffset:   s.nextOffset,
			MaxTimestamp: s.maxTimestamp,
			Size:         s.size,
			Active:       s.active,
		}
	}
	return out
}

// Sync makes everything appended before the call durable: one fdatasync per
// segment written since the last Sync, plus the directory when segments were
// created or deleted. It then records the synced position, without an
// fsync (see synced.go). It may run concurrently with Append: the
// fdatasyncs happen outside the writer lock.
func (l *Log) Sync() error {
	l.smu.Lock()
	defer l.smu.Unlock()
	l.wmu.Lock()
	if l.closed {
		l.wmu.Unlock()
		return ErrClosed
	}
	// Everything up to here is durable once the syncs below succeed.
	at := syncedPos{base: l.active().base, pos: l.active().size}
	epoch := l.mark.currentEpoch()
	var files []*os.File
	for _, s := range l.segs {
		if s.dirty {
			files = append(files, s.f)
			s.dirty = false
		}
	}
	dir := l.dirDirty
	l.dirDirty = false
	l.wmu.Unlock()

	var err error
	for _, f := range files {
		// A segment deleted by a concurrent truncation is closed: its data
		// no longer matters.
		if ferr := fsops.Fdatasync(f); ferr != nil && !errors.Is(ferr, os.ErrClosed) {
			err = errors.Join(err, ferr)
		}
	}
	if dir {
		if derr := fsops.SyncDir(l.dir); derr != nil {
			err = errors.Join(err, fmt.Errorf("fsync %s: %w", l.dir, derr))
		}
	}
	if err != nil {
		return err
	}
	// NB: only after the syncs: the mark must never run ahead of the disk.
	return l.mark.advance(at, epoch)
}

// Close syncs and unmaps everything. The Log must not be used after.
func (l *Log) Close() error {
	// Files at rest hold only frames: drop the active segment's
	// preallocation before the final sync.
	l.wmu.Lock()
	var trimErr error
	if !l.closed {
		trimErr = l.active().trim()
	}
	l.wmu.Unlock()
	err := errors.Join(trimErr, l.Sync())
	if errors.Is(err, ErrClosed) {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.segs {
		if s.active {
			// The index is a cache, but flushing it here saves a rebuild
			// after a clean shutdown followed by a machine crash.
			err = errors.Join(err, msync(s.offIdx.data), msync(s.timeIdx.data))
		}
		err = errors.Join(err, s.close())
	}
	err = errors.Join(err, l.mark.close(true /* flush */))
	// NB: segs stays, so that FirstIndex, LastIndex and the like keep
	// answering from memory; everything that reads data checks closed.
	return err
}

// segmentForIndex returns the position in segs of the segment holding raft
// index i (the last one starting at or before i).
func (l *Log) segmentForIndex(i uint64) int {
	return sort.Search(len(l.segs), func(k int) bool { return l.segs[k].base > i }) - 1
}

// segmentForOffset returns the position in segs of the first segment whose
// records go past offset, or len(segs).
func (l *Log) segmentForOffset(offset int64) int {
	return sort.Search(len(l.segs), func(k int) bool { return l.segs[k].nextOffset > offset })
}
