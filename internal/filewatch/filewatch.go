package filewatch

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Interval is how often, at most, Get looks at the files again.
const Interval = time.Second

// File is content read from files by a load function, read again when
// they change.
type File[T any] struct {
	what   string // names the content in the log: "tls", "token file"
	files  []string
	load   func() (T, error)
	logger *slog.Logger

	mu     sync.Mutex // guards the fields below; held while reloading
	every  time.Duration
	cur    T         // the last read well
	stamps []stamp   // of the files when cur was read
	next   time.Time // no check before
	// failed is the last failed reload's error (nil since one that
	// worked) and the files' stamps then: the same failure is logged
	// once, not at every check.
	failed      error
	failedStamp []stamp
}

// Watch reads the content with load, which reads files, and returns it
// watched. Its error is load's, or a file that is not a regular file.
// what names the content in the log messages ("tls: reloaded").
func Watch[T any](what string, files []string, load func() (T, error), logger *slog.Logger) (*File[T], error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &File[T]{what: what, files: files, load: load, logger: logger, every: Interval}
	// NB: the stamp before the read (a change in between is read again
	// at the next check); the read's error first, which names the file's
	// role.
	st, serr := stampAll(files)
	v, err := load()
	if err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	w.cur, w.stamps, w.next = v, st, time.Now().Add(w.every)
	return w, nil
}

// Get returns the current content, looking at the files first when the
// last look is Interval old.
func (w *File[T]) Get() T {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if now.Before(w.next) {
		return w.cur
	}
	w.next = now.Add(w.every)
	st, err := stampAll(w.files)
	if err == nil && equalStamps(st, w.stamps) {
		return w.cur
	}
	if err == nil {
		var v T
		if v, err = w.load(); err == nil {
			w.cur, w.stamps, w.failed, w.failedStamp = v, st, nil, nil
			w.logger.Info(w.what+": reloaded", "files", w.files)
			return w.cur
		}
	}
	if w.failed == nil || err.Error() != w.failed.Error() || !equalStamps(st, w.failedStamp) {
		w.logger.Warn(w.what+": reload failed; keeping the last good one", "files", w.files, "err", err)
	}
	w.failed, w.failedStamp = err, st
	return w.cur
}

// Check looks at the files as Get does and says whether the content is
// theirs: nil, or the error of the reload that failed, the last good
// content kept meanwhile.
func (w *File[T]) Check() error {
	w.Get()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// SetInterval makes Get look at the files at most once per d from now
// on (0: at every Get), in place of Interval; for tests.
func (w *File[T]) SetInterval(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.every, w.next = d, time.Now().Add(d)
}

// stamp is what tells a file changed: a rename over it changes its
// identity, a write its size or modification time.
type stamp struct {
	info os.FileInfo
}

func stampAll(files []string) ([]stamp, error) {
	st := make([]stamp, len(files))
	for i, f := range files {
		// NB: Stat follows symlinks: a Kubernetes secret volume swaps the
		// ..data link, and the target is what changes.
		info, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file", f)
		}
		st[i] = stamp{info: info}
	}
	return st, nil
}

func equalStamps(a, b []stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i].info, b[i].info
		if !os.SameFile(x, y) || x.Size() != y.Size() || !x.ModTime().Equal(y.ModTime()) {
			return false
		}
	}
	return true
}
