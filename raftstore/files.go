package raftstore

import (
	"os"
	"path/filepath"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// WriteFile writes data to dir/name so that a power cut leaves the old
// file or the new one whole: into a temporary file, fsync'd, renamed over
// name, and the directory fsync'd so that the rename itself is durable.
// For the small files beside a log (state, markers, identities).
func WriteFile(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := fsops.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := fsops.Fsync(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsops.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return fsops.SyncDir(dir)
}

// RemoveFile removes dir/name, if there, durably.
func RemoveFile(dir, name string) error {
	if err := fsops.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return fsops.SyncDir(dir)
}

// PartitionExists reports whether the data directory dir holds the
// partition called name (its raft state file), without opening anything.
func PartitionExists(dir, name string) (bool, error) {
	return fileExists(filepath.Join(dir, name, stateFileName))
}

func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	return err == nil, err
}
