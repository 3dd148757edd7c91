package segment

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count open fds (Linux only, like the store): %v", err)
	}
	return len(ents)
}

// mapsUnder counts this process's mappings of files under dir.
func mapsUnder(t testing.TB, dir string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatalf("count mappings (Linux only, like the store): %v", err)
	}
	return strings.Count(string(b), dir+"/")
}

// smallRecord is entry i holding one record of a few bytes.
func smallRecord(i uint64) raftpb.Entry {
	ts := int64(1_000_000 + i)
	data := EncodeBatch(BatchHeader{RecordCount: 1, FirstTimestamp: ts, MaxTimestamp: ts, ProposalID: i}, []byte(fmt.Sprintf("r%d", i)))
	return raftpb.Entry{Index: i, Term: 1, Type: raftpb.EntryNormal, Data: data}
}

func appendSmall(t testing.TB, l *Log, lo, hi uint64) {
	t.Helper()
	var es []raftpb.Entry
	for i := lo; i < hi; i++ {
		es = append(es, smallRecord(i))
	}
	if err := l.Append(es); err != nil {
		t.Fatalf("Append [%d, %d): %v", lo, hi, err)
	}
}

// checkSmall reads offset o (entry o+1) three ways.
func checkSmall(t testing.TB, l *Log, o int64) error {
	bs, err := l.Read(o, math.MaxUint64, 1)
	if err != nil {
		return fmt.Errorf("Read(%d): %w", o, err)
	}
	want := smallRecord(uint64(o) + 1)
	if len(bs) == 0 || bs[0].Index != want.Index || string(bs[0].Payload) != fmt.Sprintf("r%d", want.Index) {
		return fmt.Errorf("Read(%d) = %+v, want entry %d", o, bs, want.Index)
	}
	es, err := l.Entries(want.Index, want.Index+1, 0)
	if err != nil || len(es) != 1 || !bytes.Equal(es[0].Data, want.Data) {
		return fmt.Errorf("Entries(%d) = %v: %w", want.Index, es, err)
	}
	if term, err := l.Term(want.Index); err != nil || term != want.Term {
		return fmt.Errorf("Term(%d) = %d: %w", want.Index, term, err)
	}
	got, err := l.OffsetForTime(1_000_000+int64(want.Index), math.MaxUint64)
	if err == nil && got != o && l.StartOffset() > o {
		err = ErrCompacted // deleted since the reads above
	}
	if err != nil || got != o {
		return fmt.Errorf("OffsetForTime(entry %d) = %d, want %d: %w", want.Index, got, o, err)
	}
	return nil
}

// TestSealedSegmentsBounded writes 20,000 small records into 1 KiB segments
// (over a thousand of them) and checks that the descriptors and mappings the
// log holds stay within the cache bound, while the oldest records stay
// readable, before and after a restart. Before the cache, the same log held
// 3,751 descriptors and 3,750 mappings.
func TestSealedSegmentsBounded(t *testing.T) {
	const (
		n     = 20_000
		limit = 16
		// The active segment's log and indexes, and the synced mark.
		activeFDs = 4
		// Mappings of the active segment plus three per cached segment.
		maxMaps = 3 + 3*limit
	)
	dir := t.TempDir()
	cache := NewCache(limit)
	o := testOptions(1024, 256)
	o.Cache = cache
	fds := openFDs(t)
	bounded := func(when string) {
		t.Helper()
		if got := openFDs(t) - fds; got > activeFDs {
			t.Fatalf("%s: %d descriptors open, want at most %d", when, got, activeFDs)
		}
		if got := mapsUnder(t, dir); got > maxMaps {
			t.Fatalf("%s: %d mappings of the log, want at most %d", when, got, maxMaps)
		}
		if got := cache.Mapped(); got > limit {
			t.Fatalf("%s: %d sealed segments mapped, want at most %d", when, got, limit)
		}
	}
	l := openTest(t, dir, o)
	for lo := uint64(1); lo <= n; lo += 100 {
		appendSmall(t, l, lo, lo+100)
	}
	if segs := len(l.Segments()); segs < 1000 {
		t.Fatalf("%d segments, want over 1000", segs)
	}
	t.Logf("%d segments: %d descriptors, %d mappings", len(l.Segments()), openFDs(t)-fds, mapsUnder(t, dir))
	bounded("after appends")
	for off := int64(0); off < n; off += 97 {
		if err := checkSmall(t, l, off); err != nil {
			t.Fatal(err)
		}
	}
	bounded("after reads")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := cache.Mapped(); got != 0 {
		t.Fatalf("%d sealed segments mapped after Close", got)
	}

	l = openTest(t, dir, o)
	defer l.Close()
	t.Logf("reopened: %d descriptors, %d mappings", openFDs(t)-fds, mapsUnder(t, dir))
	bounded("after Open")
	for _, off := range []int64{0, 1, n / 2, n - 1} {
		if err := checkSmall(t, l, off); err != nil {
			t.Fatal(err)
		}
	}
	bounded("after reads")
}

// TestSealedSegmentsEvictedUnderReaders runs readers over many segments of
// two logs sharing a small cache, so that segments are evicted and mapped
// again all the time, while each log's writer appends (rolling segments),
// rewrites a suffix that reaches back into a sealed segment (reactivating
// it) and deletes old segments. Run with -race.
func TestSealedSegmentsEvictedUnderReaders(t *testing.T) {
	cache := NewCache(3)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	for range 2 {
		o := testOptions(1024, 256)
		o.Cache = cache
		l := openTest(t, t.TempDir(), o)
		defer l.Close()
		appendSmall(t, l, 1, 3001)
		for r := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(r), 7))
				for {
					select {
					case <-stop:
						return
					default:
					}
					// NB: not in the last 30 entries, which the writer
					// rewrites: truncated, they are briefly not there, and
					// OffsetForTime answers the log's end for them, not an
					// error. (Production reads only up to the commit index,
					// which truncation never reaches.) The log's end only
					// grows past a rewrite, so 60 back is never cut.
					start, next := l.StartOffset(), l.NextOffset()
					if next-start <= 60 {
						continue
					}
					off := start + rng.Int64N(next-start-60)
					err := checkSmall(t, l, off)
					if errors.Is(err, ErrOffsetOutOfRange) || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
						continue // deleted, or truncated for a rewrite, between two calls
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := uint64(3001)
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				appendSmall(t, l, next, next+50)
				next += 50
				// The same entries again from 30 back: a truncation into
				// what may be a sealed segment, then the same data.
				appendSmall(t, l, next-30, next)
				if round%10 == 9 {
					if _, _, err := l.DeleteBefore(next - 2000); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := cache.Mapped(); got > 3 {
		t.Errorf("%d sealed segments mapped with no reader, want at most 3", got)
	}
}
