package fsops

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestFdatasyncClosedFile: fdatasync of a file closed (or being closed by
// another goroutine: the same error from the runtime) is os.ErrClosed, as
// f.Sync says it, so that a log syncing a segment a truncation closed
// meanwhile can tell that from a disk error.
func TestFdatasyncClosedFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Fdatasync(f); err != nil {
		t.Fatalf("Fdatasync of an open file: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Fdatasync(f); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Fdatasync of a closed file: %v, want os.ErrClosed", err)
	}
	if err := f.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("f.Sync of a closed file: %v (the behaviour Fdatasync matches)", err)
	}
}
