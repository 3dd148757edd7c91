package segment

import (
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

var layouts = []struct {
	name string
	opts Options
}{
	{"tiny-segments", testOptions(512, 64)},
	{"small-segments", testOptions(4096, 256)},
	{"sparse-index", testOptions(16<<10, 4096)},
	{"every-frame-indexed", testOptions(2048, 1)},
	{"one-segment", testOptions(0, 0)},
}

func TestAppendReadRoundTrip(t *testing.T) {
	for _, lt := range layouts {
		t.Run(lt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, lt.opts)
			m := newModel()
			check(t, l, m)
			// Chunks of varying size, so rolls happen inside and between appends.
			for i, n := uint64(1), uint64(1); i <= 400; i, n = i+n, n%13+1 {
				appendBoth(t, l, m, genEntries(i, min(i+n, 401), 1))
			}
			check(t, l, m)
			segs := l.Segments()
			if lt.opts.SegmentBytes != 0 && len(segs) < 3 {
				t.Fatalf("%d segments, want several", len(segs))
			}
			for k, s := range segs {
				if s.Active != (k == len(segs)-1) {
					t.Fatalf("segment %d: Active = %v", k, s.Active)
				}
				if k > 0 && (s.FirstIndex != segs[k-1].LastIndex+1 || s.BaseOffset != segs[k-1].NextOffset) {
					t.Fatalf("segment %d does not follow segment %d: %+v after %+v", k, k-1, s, segs[k-1])
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTest(t, dir, lt.opts)
			defer l.Close()
			check(t, l, m)
			if got := l.Segments(); len(got) != len(segs) {
				t.Fatalf("after reopen: %d segments, want %d", len(got), len(segs))
			}
			for k, s := range l.Segments() {
				if s != segs[k] {
					t.Fatalf("after reopen: segment %d = %+v, want %+v", k, s, segs[k])
				}
			}
			// Appending continues the offsets after a reopen.
			appendBoth(t, l, m, genEntries(401, 420, 2))
			check(t, l, m)
		})
	}
}

func TestAppendRejects(t *testing.T) {
	l := openTest(t, t.TempDir(), testOptions(0, 0))
	defer l.Close()
	if err := l.Append(genEntries(1, 5, 1)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		entries []raftpb.Entry
	}{
		{"gap", genEntries(6, 8, 1)},
		{"not contiguous", []raftpb.Entry{genEntry(5, 1), genEntry(7, 1)}},
		{"bad batch", []raftpb.Entry{{Index: 5, Term: 1, Data: []byte("not a batch")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := l.Append(tc.entries); err == nil {
				t.Fatal("Append succeeded")
			}
			if l.LastIndex() != 4 {
				t.Fatalf("LastIndex = %d after a rejected append", l.LastIndex())
			}
		})
	}
}

func TestEntriesAndTerm(t *testing.T) {
	l := openTest(t, t.TempDir(), testOptions(1024, 128))
	defer l.Close()
	m := newModel()
	for term := uint64(1); term <= 5; term++ {
		appendBoth(t, l, m, genEntries(uint64(len(m.entries))+1, uint64(len(m.entries))+41, term))
	}
	size := func(lo, hi uint64) uint64 {
		var n uint64
		for _, e := range m.entries[lo-1 : hi-1] {
			n += uint64(e.Size())
		}
		return n
	}
	for _, tc := range []struct {
		name         string
		lo, hi, max  uint64
		wantLo, want uint64 // expected [wantLo, want)
	}{
		{"all", 1, 201, ^uint64(0), 1, 201},
		{"across segments", 37, 150, ^uint64(0), 37, 150},
		{"max size zero gives one", 50, 60, 0, 50, 51},
		{"max size exact", 10, 100, size(10, 30), 10, 30},
		{"max size one short", 10, 100, size(10, 30) - 1, 10, 29},
		{"last", 200, 201, 0, 200, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Entries(tc.lo, tc.hi, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if !entriesEqual(got, m.entries[tc.wantLo-1:tc.want-1]) {
				t.Fatalf("got %d entries, want [%d, %d)", len(got), tc.wantLo, tc.want)
			}
		})
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("want several segments, have %d", len(l.Segments()))
	}
	b, n, err := l.DeleteBefore(100)
	if err != nil || n == 0 {
		t.Fatalf("DeleteBefore = %d, %v", n, err)
	}
	first := l.FirstIndex()
	if b.Index != first-1 || b.Term != m.entries[b.Index-1].Term || b.NextOffset != m.offsets[first-1] {
		t.Fatalf("boundary %+v, first index %d", b, first)
	}
	for _, tc := range []struct {
		name   string
		lo, hi uint64
		err    error
	}{
		{"compacted", first - 1, first + 1, ErrCompacted},
		{"compacted far", 1, first + 1, ErrCompacted},
		{"unavailable", first, 202, ErrUnavailable},
		{"lo unavailable", 202, 203, ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Entries(tc.lo, tc.hi, ^uint64(0))
			wantErr(t, err, tc.err)
		})
	}
	_, err = l.Term(first - 2)
	wantErr(t, err, ErrCompacted)
	_, err = l.Term(201)
	wantErr(t, err, ErrUnavailable)
	_, _, err = l.EntryOffsets(first - 1)
	wantErr(t, err, ErrCompacted)
	_, _, err = l.EntryOffsets(201)
	wantErr(t, err, ErrUnavailable)
	if term, err := l.Term(first - 1); err != nil || term != b.Term {
		t.Fatalf("Term(first-1) = %d, %v; want %d", term, err, b.Term)
	}
}

func TestTruncateSuffix(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(segs []SegmentInfo) uint64 // index of the first replaced entry
	}{
		{"inside active", func(s []SegmentInfo) uint64 { a := s[len(s)-1]; return (a.FirstIndex + a.LastIndex + 1) / 2 }},
		{"last entry", func(s []SegmentInfo) uint64 { return s[len(s)-1].LastIndex }},
		{"start of active", func(s []SegmentInfo) uint64 { return s[len(s)-1].FirstIndex }},
		{"inside older segment", func(s []SegmentInfo) uint64 { return (s[1].FirstIndex + s[1].LastIndex) / 2 }},
		{"start of older segment", func(s []SegmentInfo) uint64 { return s[1].FirstIndex }},
		{"first index", func(s []SegmentInfo) uint64 { return 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOptions(1024, 128)
			l := openTest(t, dir, opts)
			m := newModel()
			appendBoth(t, l, m, genEntries(1, 150, 1))
			cut := tc.cut(l.Segments())
			// The new leader's entries differ in term and record counts.
			repl := genEntries(cut, cut+30, 2)
			for k := range repl {
				if records(repl[k]) > 0 {
					h, p, _ := DecodeBatchHeader(repl[k].Data)
					h.RecordCount += 7
					repl[k].Data = EncodeBatch(h, p)
				}
			}
			appendBoth(t, l, m, repl)
			check(t, l, m)
			for _, s := range l.Segments() {
				if s.FirstIndex > s.LastIndex && !s.Active {
					t.Fatalf("empty sealed segment %+v", s)
				}
			}
			appendBoth(t, l, m, genEntries(cut+30, cut+60, 2))
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

func TestReadLimits(t *testing.T) {
	l := openTest(t, t.TempDir(), testOptions(2048, 128))
	defer l.Close()
	m := newModel()
	appendBoth(t, l, m, genEntries(1, 120, 1))
	var all []Batch
	for k, e := range m.entries {
		if records(e) > 0 {
			h, p, _ := DecodeBatchHeader(e.Data)
			all = append(all, Batch{Index: e.Index, Term: e.Term, BaseOffset: m.offsets[k], Header: h, Payload: p})
		}
	}
	// from returns the batches that hold offsets >= off.
	from := func(off int64) []Batch {
		for k, b := range all {
			if b.BaseOffset+int64(b.Header.RecordCount) > off {
				return all[k:]
			}
		}
		return nil
	}
	upTo := func(bs []Batch, maxIndex uint64) []Batch {
		for k, b := range bs {
			if b.Index > maxIndex {
				return bs[:k]
			}
		}
		return bs
	}
	mid := all[40]
	for _, tc := range []struct {
		name     string
		offset   int64
		maxIndex uint64
		maxBytes int
		want     []Batch
	}{
		{"everything", 0, 1000, 1 << 30, all},
		{"inside a batch", mid.BaseOffset + 1, 1000, 1 << 30, from(mid.BaseOffset + 1)},
		{"batch start", mid.BaseOffset, 1000, 1 << 30, from(mid.BaseOffset)},
		{"commit index", 0, 60, 1 << 30, upTo(all, 60)},
		{"commit index before offset", mid.BaseOffset, mid.Index - 1, 1 << 30, nil},
		{"one byte gives one batch", mid.BaseOffset, 1000, 1, all[40:41]},
		{"exact bytes", all[10].BaseOffset, 1000, len(all[10].Payload) + len(all[11].Payload), all[10:12]},
		{"at next offset", m.next(), 1000, 1 << 30, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Read(tc.offset, tc.maxIndex, tc.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if !batchesEqual(got, tc.want) {
				t.Fatalf("got %d batches, want %d", len(got), len(tc.want))
			}
		})
	}
	_, err := l.Read(m.next()+1, 1000, 1)
	wantErr(t, err, ErrOffsetOutOfRange)
	_, err = l.Read(-1, 1000, 1)
	wantErr(t, err, ErrOffsetOutOfRange)
	if _, _, err := l.DeleteBefore(60); err != nil {
		t.Fatal(err)
	}
	_, err = l.Read(l.StartOffset()-1, 1000, 1)
	wantErr(t, err, ErrOffsetOutOfRange)
	got, err := l.Read(l.StartOffset(), 1000, 1<<30)
	if err != nil || !batchesEqual(got, from(l.StartOffset())) {
		t.Fatalf("Read(StartOffset) = %d batches, %v", len(got), err)
	}
}

func TestOffsetForTime(t *testing.T) {
	for _, lt := range layouts[:4] {
		t.Run(lt.name, func(t *testing.T) {
			l := openTest(t, t.TempDir(), lt.opts)
			defer l.Close()
			m := newModel()
			// Timestamps rise, except for a dip every 9th entry.
			var es []raftpb.Entry
			for i := uint64(1); i <= 200; i++ {
				e := genEntry(i, 1)
				if records(e) > 0 {
					h, p, _ := DecodeBatchHeader(e.Data)
					h.MaxTimestamp = int64(i * 10)
					if i%9 == 0 {
						h.MaxTimestamp = int64(i*10) - 500
					}
					e.Data = EncodeBatch(h, p)
				}
				es = append(es, e)
			}
			appendBoth(t, l, m, es)
			// naive is the definition: first batch with max timestamp >= ts.
			naive := func(ts int64, maxIndex uint64) int64 {
				for k, e := range m.entries {
					if e.Index > maxIndex {
						break
					}
					if h, ok, _ := entryBatch(e.Type, e.Data); ok && h.RecordCount > 0 && h.MaxTimestamp >= ts {
						return m.offsets[k]
					}
				}
				return m.next()
			}
			for _, maxIndex := range []uint64{200, 120, 3} {
				for ts := int64(-10); ts <= 2100; ts += 7 {
					got, err := l.OffsetForTime(ts, maxIndex)
					if err != nil {
						t.Fatal(err)
					}
					if want := naive(ts, maxIndex); got != want {
						t.Fatalf("OffsetForTime(%d, %d) = %d, want %d", ts, maxIndex, got, want)
					}
				}
			}
		})
	}
}

func TestSegmentMaxAge(t *testing.T) {
	o := testOptions(0, 0)
	o.SegmentMaxAge = 20 * time.Millisecond
	l := openTest(t, t.TempDir(), o)
	defer l.Close()
	m := newModel()
	appendBoth(t, l, m, genEntries(1, 10, 1))
	appendBoth(t, l, m, genEntries(10, 20, 1))
	if n := len(l.Segments()); n != 1 {
		t.Fatalf("%d segments before the max age", n)
	}
	time.Sleep(30 * time.Millisecond)
	appendBoth(t, l, m, genEntries(20, 30, 1))
	if n := len(l.Segments()); n != 2 {
		t.Fatalf("%d segments after the max age, want 2", n)
	}
	check(t, l, m)
}
