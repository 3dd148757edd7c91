package segment

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// DefaultOpenSealedSegments is the bound of the cache that Logs share when
// their Options name none. A mapped sealed segment holds no file descriptor
// and at most three mappings (log, offset index, time index), so the default
// costs at most 1,536 mappings of vm.max_map_count's 65,530, whatever the
// number of partitions.
const DefaultOpenSealedSegments = 512

// defaultCache is shared by every Log opened without Options.Cache.
var defaultCache = NewCache(DefaultOpenSealedSegments)

// Cache bounds how many sealed segments have their files mapped, across
// every Log that shares it (one per process: a broker has thousands of
// partitions). Sealed segments are mapped on first read and unmapped, least
// recently used first, once more than the limit are mapped; a segment is
// never unmapped while a reader holds it, so the bound can be exceeded by
// the segments that reads in flight hold. Active segments are not counted:
// they stay mapped and open (three descriptors, three mappings each).
//
// A sealed segment's mappings (segment.m, data, offIdx, timeIdx) and the
// fields below Cache.mu in segment are guarded by Cache.mu; a reader uses
// the mappings only between acquire and release. A hold also pins the log
// mapping it was given (see mapping), so that the writer can delete,
// reactivate or close a held segment: the cache then forgets it at once,
// and the held bytes stay mapped until the last hold is released.
// NB: Cache.mu is the innermost lock: it is taken under a Log's locks and
// never takes one. A miss maps the segment under it (three opens, mmaps and
// closes, tens of microseconds), which other misses and releases wait for.
type Cache struct {
	mu    sync.Mutex
	limit int
	idle  list.List // mapped sealed segments no reader holds, least recently used first
	open  int       // mapped sealed segments
}

// NewCache returns a cache that keeps at most limit sealed segments mapped
// (beyond those held by reads in flight). limit < 1 is taken as 1. The zero
// Cache is not meant to be used.
func NewCache(limit int) *Cache {
	return &Cache{limit: max(limit, 1)}
}

// Mapped returns the number of sealed segments mapped now.
func (c *Cache) Mapped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// acquire maps s if needed and holds it mapped until release(s, m), m
// being the log mapping it returns. The caller holds Log.mu (read lock),
// so that s is still in its Log and sealed; release needs no lock.
func (c *Cache) acquire(s *segment) (*mapping, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.mapped {
		if err := s.mapSealed(); err != nil {
			return nil, err
		}
		s.mapped, s.m.cached = true, true
		c.open++
	}
	if s.idleElem != nil {
		c.idle.Remove(s.idleElem)
		s.idleElem = nil
	}
	s.refs++
	s.m.pin()
	c.evictLocked()
	return s.m, nil
}

// release ends a hold taken by acquire. If the cache forgot s meanwhile
// (deleted, reactivated or closed), the hold no longer counts in s.refs and
// only the mapping's pin is dropped.
func (c *Cache) release(s *segment, m *mapping) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.cached {
		if s.refs--; s.refs == 0 {
			s.idleElem = c.idle.PushBack(s)
		}
	}
	// NB: munmap of a mapping this package made fails only on a bad
	// address, which would be a bug here; nobody is waiting for the error.
	_ = m.unpin()
	c.evictLocked()
}

// adopt takes s, just sealed and mapped, into the cache.
func (c *Cache) adopt(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.mapped, s.m.cached = true, true
	c.open++
	s.idleElem = c.idle.PushBack(s)
	c.evictLocked()
}

// forget unmaps s if it is mapped and drops it from the cache: s is being
// deleted, reactivated or closed by its writer, who holds Log.mu or has
// taken s out of the Log's segments under it, so that no reader acquires s
// again. Reads may still hold s: their holds stop counting, the indexes are
// unmapped (only the lookups under Log.mu use them), and the log mapping
// stays until the last of them is released.
func (c *Cache) forget(s *segment) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.idleElem != nil {
		c.idle.Remove(s.idleElem)
		s.idleElem = nil
	}
	if !s.mapped {
		return nil
	}
	s.mapped, s.m.cached, s.refs = false, false, 0
	c.open--
	return s.unmapSealed()
}

func (c *Cache) evictLocked() {
	for c.open > c.limit && c.idle.Len() > 0 {
		s := c.idle.Remove(c.idle.Front()).(*segment)
		s.idleElem, s.mapped, s.m.cached = nil, false, false
		c.open--
		// NB: munmap of a mapping this package made fails only on a bad
		// address, which would be a bug here; nobody is waiting for the error.
		_ = s.unmapSealed()
	}
}

// mapSealed maps a sealed segment's log and indexes read-only and closes
// their files: a mapping outlives its descriptor, so a mapped sealed
// segment holds none. A missing index is taken as empty (lookups then scan
// from the segment start).
func (s *segment) mapSealed() error {
	f, err := fsops.OpenFile(segmentPath(s.dir, s.base, logExt), os.O_RDONLY)
	if err != nil {
		return fmt.Errorf("segment: open %s: %w", s.name(), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < s.size {
		// NB: mapping past the end would fault on the first read past it.
		return fmt.Errorf("%w: %s is %d bytes, was %d", ErrCorrupt, s.name(), fi.Size(), s.size)
	}
	data, err := mapFile(f, s.size, false /* writable */)
	if err != nil {
		return err
	}
	offIdx, err := mapSealedIndex(segmentPath(s.dir, s.base, indexExt))
	if err != nil {
		return errors.Join(err, unmap(data))
	}
	timeIdx, err := mapSealedIndex(segmentPath(s.dir, s.base, timeIndexExt))
	if err != nil {
		return errors.Join(err, unmap(data), offIdx.close())
	}
	s.setMapping(data)
	s.offIdx, s.timeIdx = offIdx, timeIdx
	return nil
}

// mapSealedIndex maps a sealed index read-only, without keeping its file.
func mapSealedIndex(path string) (*index, error) {
	f, err := fsops.OpenFile(path, os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return &index{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data, err := mapFile(f, fi.Size()/indexEntrySize*indexEntrySize, false /* writable */)
	if err != nil {
		return nil, err
	}
	x := &index{data: data}
	x.n = x.count()
	return x, nil
}

// unmapSealed releases what mapSealed mapped; the log mapping stays while
// reads pin it.
func (s *segment) unmapSealed() error {
	err := s.dropMapping()
	if s.offIdx != nil {
		err = errors.Join(err, s.offIdx.close())
	}
	if s.timeIdx != nil {
		err = errors.Join(err, s.timeIdx.close())
	}
	s.offIdx, s.timeIdx = nil, nil
	return err
}
