package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// indexEntrySize is the size of one entry of either index file.
const indexEntrySize = 24

const (
	minIndexBytes = 4096
	maxIndexBytes = 10 << 20
)

// indexEntry is one 24-byte index slot. In the offset index a is the base
// offset and b the file position of the frame; in the time index a is the
// segment's running max timestamp up to and including the frame and b its
// base offset. index == 0 marks an unused slot (raft indexes start at 1).
type indexEntry struct {
	index uint64
	a, b  int64
}

// index is one mmap'd index file. The active segment's indexes are
// preallocated to their capacity and mapped read-write; a sealed segment's
// are truncated to their used size, mapped read-only, and keep no file (f
// is nil).
//
// n and the mapped bytes below n*indexEntrySize are read by readers under
// Log.mu (read lock) and changed by the writer under Log.mu (write lock).
type index struct {
	f        *os.File
	data     []byte
	writable bool
	n        int
}

// indexCapacity is the number of entries an active segment's index holds:
// one per IndexIntervalBytes of a full segment, at least 4 KiB and at most
// 10 MiB worth. A segment rolls when its index fills up.
func indexCapacity(o Options) int {
	n := o.SegmentBytes / int64(o.IndexIntervalBytes) * indexEntrySize
	n = max(n, minIndexBytes)
	n = min(n, maxIndexBytes)
	return int(n / indexEntrySize)
}

// openIndex opens an existing index file, or creates it with create. A
// writable index is grown to at least capacity entries.
func openIndex(path string, create, writable bool, capacity int) (*index, error) {
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := fsops.OpenFile(path, flags)
	if err != nil {
		return nil, err
	}
	x := &index{f: f}
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	entries := int(fi.Size() / indexEntrySize)
	if writable {
		entries = max(entries, capacity)
	}
	if err := x.remap(entries, writable); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	x.n = x.count()
	return x, nil
}

// openOrCreateIndex opens an index writable with at least capacity slots,
// creating it empty when it is missing.
func openOrCreateIndex(path string, capacity int) (*index, error) {
	x, err := openIndex(path, false /* create */, true /* writable */, capacity)
	if errors.Is(err, os.ErrNotExist) {
		return createIndex(path, capacity)
	}
	return x, err
}

// createIndex replaces path with an empty writable index of capacity entries.
func createIndex(path string, capacity int) (*index, error) {
	f, err := fsops.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, err
	}
	x := &index{f: f}
	if err := x.remap(capacity, true); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return x, nil
}

// remap sets the file to entries slots and maps all of them.
func (x *index) remap(entries int, writable bool) error {
	if err := unmap(x.data); err != nil {
		return fmt.Errorf("munmap %s: %w", x.f.Name(), err)
	}
	x.data = nil
	size := int64(entries) * indexEntrySize
	if err := x.f.Truncate(size); err != nil {
		return err
	}
	b, err := mapFile(x.f, size, writable)
	if err != nil {
		return err
	}
	x.data, x.writable = b, writable
	return nil
}

// capacity is the number of mapped slots.
func (x *index) capacity() int { return len(x.data) / indexEntrySize }

// count finds the used entries of a preallocated file: the first slot whose
// raft index is zero.
func (x *index) count() int {
	return sort.Search(x.capacity(), func(i int) bool { return x.at(i).index == 0 })
}

func (x *index) at(i int) indexEntry {
	b := x.data[i*indexEntrySize:]
	return indexEntry{
		index: binary.BigEndian.Uint64(b[0:8]),
		a:     int64(binary.BigEndian.Uint64(b[8:16])),
		b:     int64(binary.BigEndian.Uint64(b[16:24])),
	}
}

func (x *index) last() (indexEntry, bool) {
	if x.n == 0 {
		return indexEntry{}, false
	}
	return x.at(x.n - 1), true
}

// append adds e; it reports false when the index is full or read-only.
func (x *index) append(e indexEntry) bool {
	if !x.writable || x.n >= x.capacity() {
		return false
	}
	b := x.data[x.n*indexEntrySize:]
	binary.BigEndian.PutUint64(b[0:8], e.index)
	binary.BigEndian.PutUint64(b[8:16], uint64(e.a))
	binary.BigEndian.PutUint64(b[16:24], uint64(e.b))
	x.n++
	return true
}

// truncate drops the entries from n on, zeroing their slots so that count
// finds the same n after a restart.
func (x *index) truncate(n int) {
	if n >= x.n {
		return
	}
	if x.writable {
		clear(x.data[n*indexEntrySize : x.n*indexEntrySize])
	}
	x.n = n
}

// floor returns the position of the last entry whose key (selected by key)
// is <= v, or -1. Entries are sorted by every key the callers use.
func (x *index) floor(v int64, key func(indexEntry) int64) int {
	return sort.Search(x.n, func(i int) bool { return key(x.at(i)) > v }) - 1
}

// find returns the position of the entry for raft index i, or -1.
func (x *index) find(i uint64) int {
	j := sort.Search(x.n, func(k int) bool { return x.at(k).index >= i })
	if j < x.n && x.at(j).index == i {
		return j
	}
	return -1
}

// seal makes the index durable at its used size and maps it read-only.
// NB: msync before truncating, so that the pages being kept reach the file.
func (x *index) seal() error {
	if x.writable {
		if err := msync(x.data); err != nil {
			return fmt.Errorf("msync %s: %w", x.f.Name(), err)
		}
	}
	if err := x.remap(x.n, false); err != nil {
		return err
	}
	return fsops.Fsync(x.f)
}

func (x *index) close() error {
	err := unmap(x.data)
	x.data = nil
	if x.f == nil {
		return err // a sealed index keeps no file (see mapSealed)
	}
	return errors.Join(err, x.f.Close())
}

func keyIndex(e indexEntry) int64 { return int64(e.index) }
func keyA(e indexEntry) int64     { return e.a }
