package filewatch

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readWord loads a file that must hold one word.
func readWord(path string) func() (string, error) {
	return func() (string, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		w := strings.TrimSpace(string(data))
		if w == "" || strings.ContainsAny(w, " \n") {
			return "", errors.New("not one word")
		}
		return w, nil
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func want(t *testing.T, f *File[string], word string) {
	t.Helper()
	if got := f.Get(); got != word {
		t.Fatalf("Get = %q, want %q", got, word)
	}
}

// TestReloads: a write, and a rename over the file with the same size
// and modification time, are read at the next look; a change that does
// not load, or a file gone, keeps the last good content and warns once.
func TestReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "word")
	write(t, path, "first")
	var log bytes.Buffer // NB: Get logs on the caller's goroutine
	f, err := Watch("word", []string{path}, readWord(path), slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.SetInterval(0)
	want(t, f, "first")

	write(t, path, "second")
	want(t, f, "second")
	if !strings.Contains(log.String(), "word: reloaded") {
		t.Fatalf("no reload logged:\n%s", log.String())
	}

	// Same size, same modification time, another inode: a rename over.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	write(t, other, "thirds")
	if err := os.Chtimes(other, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	want(t, f, "thirds")

	write(t, path, "two words")
	want(t, f, "thirds")
	want(t, f, "thirds")
	if n := strings.Count(log.String(), "word: reload failed; keeping the last good one"); n != 1 {
		t.Fatalf("the failure logged %d times, want once:\n%s", n, log.String())
	}
	if err := f.Check(); err == nil || err.Error() != "not one word" {
		t.Fatalf("Check after a failed reload: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	want(t, f, "thirds")
	write(t, path, "fourth")
	want(t, f, "fourth")
	if err := f.Check(); err != nil {
		t.Fatalf("Check after a reload that worked: %v", err)
	}
}

// TestLooksAtMostOncePerInterval: within the interval a changed file is
// not looked at, so a burst of uses costs no stat each.
func TestLooksAtMostOncePerInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "word")
	write(t, path, "first")
	f, err := Watch("word", []string{path}, readWord(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.SetInterval(time.Hour)
	write(t, path, "second")
	want(t, f, "first")
	f.SetInterval(0) // the interval is over
	want(t, f, "second")
}

// TestWatchFails: content that does not load at the start is the load's
// error, and a directory is not a file to watch.
func TestWatchFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "word")
	write(t, path, "two words")
	if _, err := Watch("word", []string{path}, readWord(path), nil); err == nil || err.Error() != "not one word" {
		t.Fatalf("Watch of a bad file: %v", err)
	}
	if _, err := Watch("word", []string{dir}, func() (string, error) { return "x", nil }, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Watch of a directory: %v", err)
	}
}
