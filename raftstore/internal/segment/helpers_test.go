package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// quietLogger keeps expected recovery warnings out of test output.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func testOptions(segmentBytes int64, interval int) Options {
	return Options{SegmentBytes: segmentBytes, IndexIntervalBytes: interval, Logger: quietLogger}
}

func openTest(t testing.TB, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// genEntry makes entry i of term: most carry a batch (1-5 records, payload
// of a size depending on i, timestamps rising with i), some are the leader's
// empty no-op and some conf changes, which carry no records.
func genEntry(i, term uint64) raftpb.Entry {
	e := raftpb.Entry{Index: i, Term: term, Type: raftpb.EntryNormal}
	switch {
	case i%7 == 3:
	case i%11 == 5:
		e.Type = raftpb.EntryConfChange
		e.Data = []byte(fmt.Sprintf("conf change %d", i))
	default:
		payload := bytes.Repeat([]byte{byte(i), byte(term)}, int(10+i%40))
		ts := int64(1_000_000 + i*10)
		e.Data = EncodeBatch(BatchHeader{RecordCount: uint32(1 + i%5), FirstTimestamp: ts - 5, MaxTimestamp: ts, ProposalID: i*100 + term}, payload)
	}
	return e
}

func genEntries(lo, hi, term uint64) []raftpb.Entry {
	var out []raftpb.Entry
	for i := lo; i < hi; i++ {
		out = append(out, genEntry(i, term))
	}
	return out
}

func records(e raftpb.Entry) uint32 {
	h, ok, err := entryBatch(e.Type, e.Data)
	if err != nil || !ok {
		return 0
	}
	return h.RecordCount
}

// model is what a log should hold: entries and the offsets stamped on them.
type model struct {
	boundary Boundary
	entries  []raftpb.Entry
	offsets  []int64
}

func newModel() *model { return &model{} }

func (m *model) next() int64 {
	if len(m.entries) == 0 {
		return m.boundary.NextOffset
	}
	n := len(m.entries) - 1
	return m.offsets[n] + int64(records(m.entries[n]))
}

func (m *model) append(es []raftpb.Entry) {
	first := m.boundary.Index + 1
	keep := int(es[0].Index - first)
	m.entries, m.offsets = m.entries[:keep], m.offsets[:keep]
	for _, e := range es {
		m.offsets = append(m.offsets, m.next())
		m.entries = append(m.entries, e)
	}
}

func appendBoth(t testing.TB, l *Log, m *model, es []raftpb.Entry) {
	t.Helper()
	if err := l.Append(es); err != nil {
		t.Fatalf("Append [%d, %d]: %v", es[0].Index, es[len(es)-1].Index, err)
	}
	m.append(es)
}

// check compares every observable of l with m.
func check(t testing.TB, l *Log, m *model) {
	t.Helper()
	first := m.boundary.Index + 1
	last := first + uint64(len(m.entries)) - 1
	if got := l.FirstIndex(); got != first {
		t.Fatalf("FirstIndex = %d, want %d", got, first)
	}
	if got := l.LastIndex(); got != last {
		t.Fatalf("LastIndex = %d, want %d", got, last)
	}
	if got := l.StartOffset(); got != m.boundary.NextOffset {
		t.Fatalf("StartOffset = %d, want %d", got, m.boundary.NextOffset)
	}
	if got := l.NextOffset(); got != m.next() {
		t.Fatalf("NextOffset = %d, want %d", got, m.next())
	}
	if term, err := l.Term(first - 1); err != nil || term != m.boundary.Term {
		t.Fatalf("Term(%d) = %d, %v; want boundary term %d", first-1, term, err, m.boundary.Term)
	}
	if len(m.entries) == 0 {
		return
	}
	got, err := l.Entries(first, last+1, ^uint64(0))
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
	}
	if !entriesEqual(got, m.entries) {
		t.Fatalf("Entries(%d, %d): %d entries differ from the %d expected", first, last+1, len(got), len(m.entries))
	}
	var want []Batch
	for k, e := range m.entries {
		term, err := l.Term(e.Index)
		if err != nil || term != e.Term {
			t.Fatalf("Term(%d) = %d, %v; want %d", e.Index, term, err, e.Term)
		}
		base, count, err := l.EntryOffsets(e.Index)
		if err != nil || base != m.offsets[k] || count != records(e) {
			t.Fatalf("EntryOffsets(%d) = %d, %d, %v; want %d, %d", e.Index, base, count, err, m.offsets[k], records(e))
		}
		if records(e) > 0 {
			h, payload, _ := DecodeBatchHeader(e.Data)
			want = append(want, Batch{Index: e.Index, Term: e.Term, BaseOffset: m.offsets[k], Header: h, Payload: payload})
		}
	}
	batches, err := l.Read(m.boundary.NextOffset, last, 1<<30)
	if err != nil {
		t.Fatalf("Read(%d): %v", m.boundary.NextOffset, err)
	}
	if !batchesEqual(batches, want) {
		t.Fatalf("Read(%d): %d batches differ from the %d expected", m.boundary.NextOffset, len(batches), len(want))
	}
}

func entriesEqual(a, b []raftpb.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y raftpb.Entry) bool {
		return x.Index == y.Index && x.Term == y.Term && x.Type == y.Type && bytes.Equal(x.Data, y.Data)
	})
}

func batchesEqual(a, b []Batch) bool {
	return slices.EqualFunc(a, b, func(x, y Batch) bool {
		return x.Index == y.Index && x.Term == y.Term && x.BaseOffset == y.BaseOffset &&
			x.Header == y.Header && bytes.Equal(x.Payload, y.Payload)
	})
}

// files lists the segment files of dir with ext, oldest first.
func files(t testing.TB, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}
