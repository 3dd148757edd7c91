package segment

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// blockedRead runs ReadFunc(offset, maxIndex, maxBytes) in a goroutine whose
// callback, once it has the batches, waits for release and then checks them
// against want (entries by index). It returns once the callback is
// waiting, and a function that releases it and returns ReadFunc's error.
func blockedRead(t *testing.T, l *Log, offset int64, maxIndex uint64, maxBytes int, want func(uint64) raftpb.Entry) (finish func() error) {
	t.Helper()
	entered, release, result := make(chan int), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // NB: before the Log's cleanup Close, which may wait for it
	go func() {
		result <- l.ReadFunc(offset, maxIndex, maxBytes, func(bs []Batch) error {
			entered <- len(bs)
			<-release
			for _, b := range bs {
				h, p, err := DecodeBatchHeader(want(b.Index).Data)
				if err != nil || b.Header != h || !bytes.Equal(b.Payload, p) {
					return fmt.Errorf("batch %d changed under its reader", b.Index)
				}
			}
			return nil
		})
	}()
	select {
	case n := <-entered:
		if n == 0 {
			t.Fatal("the blocked read got no batches")
		}
	case err := <-result:
		t.Fatalf("ReadFunc returned before its callback: %v", err)
	}
	return func() error { free(); return <-result }
}

// meanwhileWait is how long meanwhile waits: long enough that only a
// deadlock reaches it on a loaded machine.
const meanwhileWait = 30 * time.Second

// meanwhile runs f, failing the test if it does not finish while a read's
// callback is blocked (before the fix, it waits for the callback forever).
func meanwhile(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(meanwhileWait): // only a deadlock gets here
		t.Fatalf("%s waits for a ReadFunc callback", what)
	}
}

// TestReadFuncCallbackUnlocked blocks a ReadFunc callback over the active
// segment and checks that the writer and other readers of the log proceed:
// appends that grow the mapping (a remap), roll the segment (sealing remaps
// it again), then retention deleting it and Close. The callback then still
// reads the bytes it was given, and the mapping goes once it returns.
func TestReadFuncCallbackUnlocked(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(1<<20, 0)
	o.Cache = NewCache(4)
	l := openTest(t, dir, o)
	t.Cleanup(func() { l.Close() })
	appendBoth(t, l, newModel(), genEntries(1, 21, 1))
	finish := blockedRead(t, l, 0, 20, 1<<20, func(i uint64) raftpb.Entry { return genEntry(i, 1) })

	big := func(i uint64) raftpb.Entry {
		payload := bytes.Repeat([]byte{byte(i)}, 3<<20/2)
		return raftpb.Entry{Index: i, Term: 1, Data: EncodeBatch(BatchHeader{RecordCount: 1, FirstTimestamp: 1, MaxTimestamp: 1}, payload)}
	}
	meanwhile(t, "Append past the active mapping", func() error { return l.Append([]raftpb.Entry{big(21)}) })
	meanwhile(t, "Term", func() error {
		if term, err := l.Term(7); err != nil || term != 1 {
			return fmt.Errorf("Term(7) = %d, %v", term, err)
		}
		return nil
	})
	meanwhile(t, "Entries", func() error {
		es, err := l.Entries(1, 22, ^uint64(0))
		if err == nil && len(es) != 21 {
			err = fmt.Errorf("%d entries, want 21", len(es))
		}
		return err
	})
	meanwhile(t, "another ReadFunc", func() error {
		bs, err := l.Read(0, 21, 1<<30)
		if err == nil && bs[len(bs)-1].Index != 21 {
			err = fmt.Errorf("read up to %d, want 21", bs[len(bs)-1].Index)
		}
		return err
	})
	meanwhile(t, "Append rolling the segment", func() error { return l.Append([]raftpb.Entry{big(22), big(23)}) })
	if segs := l.Segments(); segs[0].Active || segs[0].LastIndex < 20 {
		t.Fatalf("the read segment is not sealed: %+v", segs)
	}
	meanwhile(t, "DeleteBefore", func() error {
		_, n, err := l.DeleteBefore(22)
		if err == nil && n == 0 {
			err = fmt.Errorf("deleted nothing")
		}
		return err
	})
	meanwhile(t, "Close", l.Close)
	if mapsUnder(t, dir) == 0 {
		t.Fatal("the blocked read's mapping is gone")
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if n := mapsUnder(t, dir); n != 0 {
		t.Fatalf("%d mappings left after the read and Close", n)
	}
}

// TestReadFuncCallbackSealed blocks a ReadFunc callback whose batches span
// several sealed segments, with a cache of one, and checks that meanwhile
// other reads churn the cache, the writer truncates back into a sealed
// segment after the read's maxIndex (reactivating it), retention deletes
// the segments read and the log closes, while the callback's bytes stay
// right and the cache's bound holds once it returns.
func TestReadFuncCallbackSealed(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(1024, 128)
	o.Cache = NewCache(1)
	l := openTest(t, dir, o)
	t.Cleanup(func() { l.Close() })
	appendBoth(t, l, newModel(), genEntries(1, 301, 1))
	segs := l.Segments()
	if len(segs) < 10 {
		t.Fatalf("%d segments, want many", len(segs))
	}
	// From the second segment, up to an entry in a later one.
	const maxIndex = 150
	finish := blockedRead(t, l, segs[1].BaseOffset, maxIndex, 1<<20, func(i uint64) raftpb.Entry { return genEntry(i, 1) })
	if got := o.Cache.Mapped(); got < 3 {
		t.Fatalf("%d sealed segments mapped, want the read's several", got)
	}

	meanwhile(t, "reads churning the cache", func() error {
		for _, s := range l.Segments() {
			if _, err := l.Read(s.BaseOffset, 300, 1); err != nil {
				return err
			}
		}
		return nil
	})
	// A new leader's entries from 200 on: a truncation into a sealed segment.
	meanwhile(t, "Append truncating", func() error { return l.Append(genEntries(200, 230, 2)) })
	meanwhile(t, "DeleteBefore", func() error {
		_, n, err := l.DeleteBefore(190)
		if err == nil && n < 3 {
			err = fmt.Errorf("deleted %d segments, want the read ones", n)
		}
		return err
	})
	meanwhile(t, "Close", l.Close)
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if n := mapsUnder(t, dir); n != 0 {
		t.Fatalf("%d mappings left after the read and Close", n)
	}
	if got := o.Cache.Mapped(); got != 0 {
		t.Fatalf("cache counts %d mapped after Close", got)
	}
}

// TestReadFuncCallbackEvictionBound holds a read's segments past the cache
// bound, then checks that releasing them brings the cache back to it while
// the log stays open and readable.
func TestReadFuncCallbackEvictionBound(t *testing.T) {
	o := testOptions(1024, 128)
	o.Cache = NewCache(2)
	l := openTest(t, t.TempDir(), o)
	t.Cleanup(func() { l.Close() })
	appendBoth(t, l, newModel(), genEntries(1, 301, 1))
	finish := blockedRead(t, l, 0, 300, 1<<20, func(i uint64) raftpb.Entry { return genEntry(i, 1) })
	if got := o.Cache.Mapped(); got <= 2 {
		t.Fatalf("%d sealed segments mapped, want every one the read holds", got)
	}
	meanwhile(t, "Read", func() error { _, err := l.Read(0, 300, 1<<20); return err })
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if got := o.Cache.Mapped(); got > 2 {
		t.Fatalf("%d sealed segments mapped after the reads, want at most 2", got)
	}
	m := newModel()
	m.append(genEntries(1, 301, 1))
	check(t, l, m)
}
