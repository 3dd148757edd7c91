package segment

import (
	"errors"
	"os"
	"path/filepath"
)

// The file operations whose durability differs from the rest go through the
// functions below: creating, removing and renaming files, and syncing files
// and directories. Writes (pwrite, ftruncate, fallocate, stores into a
// mapping) need no seam: their effect is in the file, and what a crash
// keeps of it is decided by the syncs around it.

// fsObserver watches those operations: the power-loss tests use one to
// record what a crash at any point could leave on disk. It is nil in
// production, where each operation pays one nil check beside its system call;
// nothing on the append path (pwrite, mapping reads) goes through it.
type fsObserver interface {
	created(path string)              // path now exists (it may have existed)
	removing(path string)             // path is about to be unlinked
	renaming(oldPath, newPath string) // oldPath is about to replace newPath
	synced(path string)               // path's data and size are durable
	dirSynced(dir string)             // dir's entries are durable
}

// observer is set only by tests, before any Log is opened.
var observer fsObserver

// openFile is os.OpenFile, reporting creations.
func openFile(path string, flags int) (*os.File, error) {
	f, err := os.OpenFile(path, flags, 0o644)
	if err == nil && flags&os.O_CREATE != 0 && observer != nil {
		observer.created(path)
	}
	return f, err
}

// removeFile is os.Remove.
func removeFile(path string) error {
	if observer != nil {
		observer.removing(path)
	}
	return os.Remove(path)
}

// renameFile is os.Rename.
func renameFile(oldPath, newPath string) error {
	if observer != nil {
		observer.renaming(oldPath, newPath)
	}
	return os.Rename(oldPath, newPath)
}

// fsyncFile is f.Sync (fsync: data and metadata).
func fsyncFile(f *os.File) error {
	err := f.Sync()
	if err == nil && observer != nil {
		observer.synced(f.Name())
	}
	return err
}

// syncDir makes creations, renames and deletions in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if err = errors.Join(err, d.Close()); err == nil && observer != nil {
		observer.dirSynced(filepath.Clean(dir))
	}
	return err
}
