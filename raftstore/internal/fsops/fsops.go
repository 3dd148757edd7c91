package fsops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Observer watches the operations of this package. Remove, RemoveAll and
// Rename are handed the operation to run, so that an observer can make it
// atomic with what it records (a crash image taken meanwhile by another
// goroutine must see it either done or not).
type Observer interface {
	// Created: path (a file or a directory) now exists; it may have
	// existed before.
	Created(path string)
	// Remove runs remove, which unlinks path (RemoveAll: a whole tree).
	Remove(path string, remove func() error) error
	// Rename runs rename, which makes oldPath replace newPath.
	Rename(oldPath, newPath string, rename func() error) error
	// Synced: path's data and size are durable.
	Synced(path string)
	// DirSynced: dir's entries are durable.
	DirSynced(dir string)
}

var observer atomic.Pointer[Observer]

// SetObserver sets (nil: clears) the observer and returns the one it
// replaces. Only tests set one, before they open anything whose operations
// it must see.
func SetObserver(o Observer) (prev Observer) {
	prev = current()
	if o == nil {
		observer.Store(nil)
	} else {
		observer.Store(&o)
	}
	return prev
}

func current() Observer {
	if p := observer.Load(); p != nil {
		return *p
	}
	return nil
}

// OpenFile is os.OpenFile (mode 0644), reporting creations.
func OpenFile(path string, flags int) (*os.File, error) {
	f, err := os.OpenFile(path, flags, 0o644)
	if err == nil && flags&os.O_CREATE != 0 {
		if o := current(); o != nil {
			o.Created(path)
		}
	}
	return f, err
}

// MkdirAll is os.MkdirAll (mode 0755), reporting each directory it creates,
// outermost first. Making them durable is the caller's: SyncDir each parent.
func MkdirAll(dir string) error {
	o := current()
	var missing []string
	if o != nil {
		for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
			if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
				break
			}
			missing = append(missing, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		o.Created(missing[i])
	}
	return nil
}

// Remove is os.Remove.
func Remove(path string) error {
	if o := current(); o != nil {
		return o.Remove(path, func() error { return os.Remove(path) })
	}
	return os.Remove(path)
}

// RemoveAll is os.RemoveAll.
func RemoveAll(path string) error {
	if o := current(); o != nil {
		return o.Remove(path, func() error { return os.RemoveAll(path) })
	}
	return os.RemoveAll(path)
}

// Rename is os.Rename.
func Rename(oldPath, newPath string) error {
	if o := current(); o != nil {
		return o.Rename(oldPath, newPath, func() error { return os.Rename(oldPath, newPath) })
	}
	return os.Rename(oldPath, newPath)
}

// Fsync is f.Sync (fsync: data and metadata).
func Fsync(f *os.File) error {
	err := f.Sync()
	if err == nil {
		if o := current(); o != nil {
			o.Synced(f.Name())
		}
	}
	return err
}

// Fdatasync flushes f's data (and the size, which reading it needs). It
// goes through the file's raw conn so that a concurrent Close (a segment
// deleted by truncation while a sync runs) waits instead of the fd being
// reused.
func Fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fdatasync(int(fd)) }); err != nil {
		// NB: Control fails only for a file closed, or being closed by
		// another goroutine, with poll's own error ("use of closed
		// file"): say os.ErrClosed, as f.Sync would, so that callers
		// that expect a concurrent close can tell.
		return fmt.Errorf("fdatasync %s: %w (%v)", f.Name(), os.ErrClosed, err)
	}
	if serr != nil {
		return fmt.Errorf("fdatasync %s: %w", f.Name(), serr)
	}
	if o := current(); o != nil {
		o.Synced(f.Name())
	}
	return nil
}

// SyncDir makes creations, renames and deletions in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if err = errors.Join(err, d.Close()); err == nil {
		if o := current(); o != nil {
			o.DirSynced(filepath.Clean(dir))
		}
	}
	return err
}
