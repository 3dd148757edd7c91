package segment

import (
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// mapFile maps the first length bytes of f, shared, so that the mapping sees
// what write() puts in the page cache. length may exceed the file size (the
// active segment is mapped ahead of its writes); bytes past EOF must never be
// touched, or the process gets SIGBUS. A zero length maps nothing.
func mapFile(f *os.File, length int64, writable bool) ([]byte, error) {
	if length <= 0 {
		return nil, nil
	}
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(length), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", f.Name(), err)
	}
	return b, nil
}

// unmap releases a mapping returned by mapFile (nil is fine).
func unmap(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}

// mapping is one mapping of a segment's log file. Its owner (the segment
// while active, its Cache while sealed) holds one reference and every read
// pinning it one more; the last to let go unmaps it. So the bytes a read
// hands to its callback stay mapped, without the Log's lock, whatever the
// writer or the cache does to the segment meanwhile: a remap (growth,
// sealing, reactivation), an eviction, a deletion or Close only drops the
// owner's reference. The file behind it may be unlinked meanwhile (the
// pages stay), but must not be cut below what a read uses, or the read
// faults (SIGBUS): only uncommitted entries are ever cut (see ReadFunc).
type mapping struct {
	data []byte       // immutable
	refs atomic.Int32 // the owner's plus one per pin
	// cached is guarded by Cache.mu: the mapping is the current one of a
	// sealed segment in its cache, so a hold on it counts in segment.refs.
	cached bool
}

// newMapping takes ownership of b, a mapping from mapFile (nil for none).
func newMapping(b []byte) *mapping {
	m := &mapping{data: b}
	m.refs.Store(1)
	return m
}

// pin takes a reference. The caller must know the mapping alive: it holds
// the lock its owner changes it under, or a reference already.
func (m *mapping) pin() { m.refs.Add(1) }

// unpin drops a reference, the owner's or a pin's, and unmaps on the last.
func (m *mapping) unpin() error {
	if m.refs.Add(-1) == 0 {
		return unmap(m.data)
	}
	return nil
}

// msync writes a writable mapping's dirty pages back to its file.
func msync(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.Msync(b, unix.MS_SYNC)
}

// pageAlign rounds n up to a whole number of pages.
func pageAlign(n int64) int64 {
	p := int64(os.Getpagesize())
	return (n + p - 1) / p * p
}
