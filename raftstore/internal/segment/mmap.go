package segment

import (
	"fmt"
	"os"

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
