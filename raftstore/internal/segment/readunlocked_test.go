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
// an append that grows the mapping (a remap), Term, Entries, another read,
// an append that rolls the segment (sealing remaps it again) and Close,
// which forgets the sealed segment the read holds. The callback then still
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
	meanwhile(t, "Append rolling the segment", func() error { return l.Append([]raftpb.Entry{big(22)}) })
	if segs := l.Segments(); segs[0].Active || segs[0].LastIndex < 20 {
		t.Fatalf("the read segment is not sealed: %+v", segs)
	}
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
	if got := o.Cache.Mapped(); got != 0 {
		t.Fatalf("cache counts %d mapped after Close", got)
	}
}

// TestReadFuncCallbackSealed blocks a ReadFunc callback whose batches span
// several sealed segments, with a cache of one, and checks that meanwhile
// the writer truncates right after the read's maxIndex (reactivating the
// last segment the read holds) and rolls it sealed again, retention
// deletes the other segments read, and other reads churn the cache, while
// the callback's bytes stay right. Once it returns, the cache is back to
// its bound (the read's holds of forgotten segments no longer count) and
// the log reads as it should.
func TestReadFuncCallbackSealed(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(1024, 128)
	o.Cache = NewCache(1)
	l := openTest(t, dir, o)
	t.Cleanup(func() { l.Close() })
	m := newModel()
	appendBoth(t, l, m, genEntries(1, 301, 1))
	segs := l.Segments()
	if len(segs) < 10 || segs[5].LastIndex-segs[5].FirstIndex < 4 {
		t.Fatalf("segments %+v, want many of several entries", segs)
	}
	// From the second segment into the middle of the sixth.
	maxIndex := segs[5].FirstIndex + 1
	finish := blockedRead(t, l, segs[1].BaseOffset, maxIndex, 1<<20, func(i uint64) raftpb.Entry { return genEntry(i, 1) })
	if got := o.Cache.Mapped(); got != 5 {
		t.Fatalf("%d sealed segments mapped, want the read's 5", got)
	}

	// A new leader's entries after maxIndex: the sixth segment is active
	// again, then sealed again by what follows.
	meanwhile(t, "Append truncating", func() error {
		es := genEntries(maxIndex+1, maxIndex+60, 2)
		m.append(es)
		return l.Append(es)
	})
	if now := l.Segments(); now[5].FirstIndex != segs[5].FirstIndex || now[5].Active {
		t.Fatalf("the sixth segment is not sealed again: %+v", now)
	}
	meanwhile(t, "DeleteBefore", func() error {
		b, n, err := l.DeleteBefore(segs[5].FirstIndex)
		m.entries, m.offsets = m.entries[b.Index-m.boundary.Index:], m.offsets[b.Index-m.boundary.Index:]
		m.boundary = b
		if err == nil && n != 5 {
			err = fmt.Errorf("deleted %d segments, want the first 5", n)
		}
		return err
	})
	meanwhile(t, "reads churning the cache", func() error {
		for _, s := range l.Segments() {
			if _, err := l.Read(s.BaseOffset, l.LastIndex(), 1); err != nil {
				return err
			}
		}
		return nil
	})
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if got := o.Cache.Mapped(); got > 1 {
		t.Fatalf("%d sealed segments mapped after the reads, want at most 1", got)
	}
	check(t, l, m)
	if n := holds(l); n != 0 {
		t.Fatalf("the cache counts %d holds with no read in flight", n)
	}
	if got := o.Cache.Mapped(); got > 1 {
		t.Fatalf("%d sealed segments mapped after more reads, want at most 1", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := mapsUnder(t, dir); n != 0 {
		t.Fatalf("%d mappings left after Close", n)
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

// holds sums the cache's hold counts of l's segments.
func holds(l *Log) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	c := l.opts.Cache
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range l.segs {
		n += max(s.refs, -s.refs) // NB: a miscount may go negative
	}
	return n
}
