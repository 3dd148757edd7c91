package segment

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// trim makes m start after b, as the log should.
func (m *model) trim(b Boundary) {
	drop := int(b.Index - m.boundary.Index)
	if drop > len(m.entries) {
		drop = len(m.entries)
	}
	m.entries, m.offsets = m.entries[drop:], m.offsets[drop:]
	m.boundary = b
}

func TestDeleteBefore(t *testing.T) {
	opts := testOptions(1024, 128)
	dir := t.TempDir()
	l := openTest(t, dir, opts)
	m := newModel()
	appendBoth(t, l, m, genEntries(1, 200, 1))
	segs := l.Segments()

	// Nothing qualifies: the first segment still holds index 2.
	if b, n, err := l.DeleteBefore(2); err != nil || n != 0 || b != (Boundary{}) {
		t.Fatalf("DeleteBefore(2) = %+v, %d, %v", b, n, err)
	}
	b, n, err := l.DeleteBefore(segs[2].FirstIndex + 1)
	if err != nil || n != 2 {
		t.Fatalf("DeleteBefore = %d, %v; want 2 segments", n, err)
	}
	want := Boundary{Index: segs[2].FirstIndex - 1, Term: 1, NextOffset: segs[2].BaseOffset}
	if b != want {
		t.Fatalf("boundary %+v, want %+v", b, want)
	}
	m.trim(b)
	check(t, l, m)
	// Never the active segment.
	b, n, err = l.DeleteBefore(1 << 40)
	if err != nil || len(l.Segments()) != 1 || n != len(segs)-3 {
		t.Fatalf("DeleteBefore(all) = %d, %v; %d segments left", n, err, len(l.Segments()))
	}
	m.trim(b)
	check(t, l, m)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, opts)
	defer l.Close()
	check(t, l, m)
	appendBoth(t, l, m, genEntries(200, 230, 2))
	check(t, l, m)
}

func TestDeleteBeforeInterrupted(t *testing.T) {
	// A crash after the boundary is recorded but before the files go.
	opts := testOptions(1024, 128)
	dir := t.TempDir()
	m := buildLog(t, dir, opts, 150)
	l := openTest(t, dir, opts)
	segs := l.Segments()
	l.Close()
	b := Boundary{Index: segs[3].FirstIndex - 1, Term: 1, NextOffset: segs[3].BaseOffset}
	if err := writeBoundary(dir, b); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, opts)
	defer l.Close()
	m.trim(b)
	check(t, l, m)
	if got := len(files(t, dir, logExt)); got != len(segs)-3 {
		t.Fatalf("%d log files, want %d", got, len(segs)-3)
	}
}

func TestSetBoundary(t *testing.T) {
	opts := testOptions(1024, 128)
	for _, tc := range []struct {
		name     string
		n        uint64 // entries [1, n) appended first
		boundary func(m *model) Boundary
		reset    bool
	}{
		{"empty log", 1, func(*model) Boundary { return Boundary{Index: 100, Term: 5, NextOffset: 1000} }, true},
		{"log before boundary", 50, func(*model) Boundary { return Boundary{Index: 80, Term: 3, NextOffset: 500} }, true},
		{"boundary at last index", 50, func(m *model) Boundary {
			return Boundary{Index: 49, Term: 1, NextOffset: m.next()}
		}, true},
		{"inside log", 150, func(m *model) Boundary {
			return Boundary{Index: 70, Term: 1, NextOffset: m.offsets[70]}
		}, false},
		{"inside log, other term", 150, func(m *model) Boundary {
			return Boundary{Index: 70, Term: 2, NextOffset: m.offsets[70]}
		}, true},
		{"inside log, other offset", 150, func(m *model) Boundary {
			return Boundary{Index: 70, Term: 1, NextOffset: m.offsets[70] + 1}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, opts)
			m := newModel()
			if tc.n > 1 {
				appendBoth(t, l, m, genEntries(1, tc.n, 1))
			}
			b := tc.boundary(m)
			if err := l.SetBoundary(b); err != nil {
				t.Fatal(err)
			}
			if tc.reset {
				m = &model{boundary: b}
			} else {
				m.trim(b)
			}
			check(t, l, m)
			if tc.reset && len(l.Segments()) != 1 {
				t.Fatalf("%d segments after a reset", len(l.Segments()))
			}
			appendBoth(t, l, m, genEntries(b.Index+1, b.Index+40, 6))
			check(t, l, m)
			// An older boundary changes nothing.
			if err := l.SetBoundary(Boundary{Index: b.Index - 1, Term: 1}); err != nil {
				t.Fatal(err)
			}
			check(t, l, m)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTest(t, dir, opts)
			defer l.Close()
			check(t, l, m)
		})
	}
}

// TestConcurrentReaders runs readers against a writer that appends, rolls,
// truncates, syncs and deletes, for the race detector and for torn reads.
func TestConcurrentReaders(t *testing.T) {
	l := openTest(t, t.TempDir(), testOptions(2048, 128))
	defer l.Close()
	if err := l.Append(genEntries(1, 20, 1)); err != nil {
		t.Fatal(err)
	}
	var (
		done    atomic.Bool
		wg      sync.WaitGroup
		commit  atomic.Uint64
		readErr = make(chan error, 8)
	)
	commit.Store(10)
	tolerated := func(err error) bool {
		return err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOffsetOutOfRange)
	}
	valid := func(e raftpb.Entry) bool {
		return entriesEqual([]raftpb.Entry{e}, []raftpb.Entry{genEntry(e.Index, e.Term)})
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				first, last := l.FirstIndex(), l.LastIndex()
				es, err := l.Entries(first, last+1, 4096)
				if !tolerated(err) {
					readErr <- err
					return
				}
				for _, e := range es {
					if !valid(e) {
						readErr <- errors.New("torn entry")
						return
					}
				}
				if _, err := l.Term(last); !tolerated(err) {
					readErr <- err
					return
				}
				bs, err := l.Read(l.StartOffset(), commit.Load(), 8192)
				if !tolerated(err) {
					readErr <- err
					return
				}
				for _, b := range bs {
					want := genEntry(b.Index, b.Term)
					h, p, _ := DecodeBatchHeader(want.Data)
					if b.Header != h || string(b.Payload) != string(p) || b.Index > commit.Load() {
						readErr <- errors.New("torn batch")
						return
					}
				}
				if _, err := l.OffsetForTime(1_000_500, commit.Load()); !tolerated(err) {
					readErr <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the group-commit flusher
		defer wg.Done()
		for !done.Load() {
			if err := l.Sync(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	next, term := uint64(20), uint64(1)
	for round := 0; round < 300; round++ {
		if round%25 == 24 && next-5 > commit.Load()+1 {
			next -= 5 // a new leader replaces an uncommitted suffix
			term++
		}
		if err := l.Append(genEntries(next, next+7, term)); err != nil {
			t.Fatal(err)
		}
		next += 7
		commit.Store(next - 8)
		if round%10 == 9 {
			if _, _, err := l.DeleteBefore(commit.Load() - 50); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	close(readErr)
	for err := range readErr {
		t.Fatal(err)
	}
}
