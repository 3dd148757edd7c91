package segment

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/internal/golden"
)

// goldenBatch is the batch of frame.golden and batch.golden.
var goldenBatch = BatchHeader{RecordCount: 3, FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_250, ProposalID: 0x0102030405060708,
	AppendTime: 1_700_000_000_300, ProducerID: 0x1122334455667788, ProducerEpoch: 5, BaseSequence: 0x0a0b0c0d0e0f}

func TestGoldenBatchHeader(t *testing.T) {
	b := golden.Check(t, "batch.golden", EncodeBatch(goldenBatch, []byte("payload")))
	h, payload, err := DecodeBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h != goldenBatch || string(payload) != "payload" {
		t.Fatalf("decoded %+v %q, want %+v %q", h, payload, goldenBatch, "payload")
	}
	if b[0] != batchMagic || len(b) != BatchHeaderSize+len("payload") {
		t.Fatalf("magic %d, %d bytes", b[0], len(b))
	}
}

// TestGoldenBatchHeaderV1 reads a batch header as version 1 wrote it,
// which older logs hold: its later fields read as zero.
func TestGoldenBatchHeaderV1(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "batch_v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	h, payload, err := DecodeBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := BatchHeader{RecordCount: 3, FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_250, ProposalID: 0x0102030405060708}
	if h != want || string(payload) != "payload" || b[0] != batchMagicV1 {
		t.Fatalf("decoded %+v %q (magic %d), want %+v %q", h, payload, b[0], want, "payload")
	}
}

func TestGoldenFrame(t *testing.T) {
	e := raftpb.Entry{Index: 7, Term: 3, Type: raftpb.EntryNormal, Data: EncodeBatch(goldenBatch, []byte("payload"))}
	b := golden.Check(t, "frame.golden", appendFrame(nil, &e, 42))
	h, data, err := decodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	want := frameHeader{length: uint32(frameMetaSize + len(e.Data)), crc: h.crc, index: 7, term: 3, typ: raftpb.EntryNormal, baseOffset: 42}
	if h != want || h.size() != int64(len(b)) || !bytes.Equal(data, e.Data) {
		t.Fatalf("decoded %+v, %d bytes of data; want %+v and the entry's %d", h, len(data), want, len(e.Data))
	}
}

// goldenLogEntries are the entries of the golden log: batches (one with a
// timestamp going backwards), the leader's empty no-op and a conf change,
// in two terms.
func goldenLogEntries() []raftpb.Entry {
	batch := func(i, term uint64, n uint32, first, maxTS int64, payload string) raftpb.Entry {
		return raftpb.Entry{Index: i, Term: term, Type: raftpb.EntryNormal,
			Data: EncodeBatch(BatchHeader{RecordCount: n, FirstTimestamp: first, MaxTimestamp: maxTS, ProposalID: i * 10}, []byte(payload))}
	}
	return []raftpb.Entry{
		{Index: 1, Term: 1, Type: raftpb.EntryNormal},
		batch(2, 1, 2, 1000, 1005, "first batch"),
		{Index: 3, Term: 1, Type: raftpb.EntryConfChange, Data: []byte("conf change")},
		batch(4, 1, 1, 990, 995, "older timestamps"),
		batch(5, 2, 3, 1010, 1020, "third batch"),
		{Index: 6, Term: 2, Type: raftpb.EntryNormal},
		batch(7, 2, 1, 1030, 1030, "in the next segment"),
	}
}

// goldenLogOptions roll a segment past 200 bytes and index every 64.
func goldenLogOptions() Options { return testOptions(200, 64) }

// goldenLogFiles are the files of the golden log, under their names in the
// log directory. The active segment's indexes are left out: they are
// preallocated (4 KiB of mostly zeros) and in the same format as the
// sealed segment's.
var goldenLogFiles = map[string]string{
	"00000000000000000001.log":       "sealed_segment.log.golden",
	"00000000000000000001.index":     "sealed_segment.index.golden",
	"00000000000000000001.timeindex": "sealed_segment.timeindex.golden",
	"00000000000000000005.log":       "active_segment.log.golden",
	"synced":                         "log_synced.golden",
}

// TestGoldenLog writes a small log (a sealed segment and the active one,
// closed cleanly), compares its files with the golden ones, and opens the
// golden files as a log.
func TestGoldenLog(t *testing.T) {
	entries := goldenLogEntries()
	dir := t.TempDir()
	l := openTest(t, dir, goldenLogOptions())
	if err := l.Append(entries); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rdir := t.TempDir()
	for name, file := range goldenLogFiles {
		b := golden.Check(t, file, readFile(t, filepath.Join(dir, name)))
		writeFile(t, filepath.Join(rdir, name), b)
	}

	// The indexes, decoded: the offset index has the segment's first frame
	// (at 0) and each frame starting at least 64 bytes after the previous
	// indexed one (index 3 at 136: 33 + 103); the time index the same frames
	// when the running max timestamp grew (not at index 1, a no-op).
	offIdx := &index{data: readFile(t, filepath.Join(rdir, "00000000000000000001.index"))}
	timeIdx := &index{data: readFile(t, filepath.Join(rdir, "00000000000000000001.timeindex"))}
	offIdx.n, timeIdx.n = offIdx.count(), timeIdx.count()
	wantOff := []indexEntry{{1, 0, 0}, {3, 2, 136}}
	wantTime := []indexEntry{{3, 1005, 2}}
	for name, c := range map[string]struct {
		x    *index
		want []indexEntry
	}{"offset": {offIdx, wantOff}, "time": {timeIdx, wantTime}} {
		if c.x.n != len(c.want) || c.x.capacity() != c.x.n {
			t.Fatalf("%s index: %d entries in %d slots, want %d", name, c.x.n, c.x.capacity(), len(c.want))
		}
		for i, want := range c.want {
			if got := c.x.at(i); got != want {
				t.Fatalf("%s index entry %d = %+v, want %+v", name, i, got, want)
			}
		}
	}
	sealed := readFile(t, filepath.Join(rdir, "00000000000000000001.log"))
	for _, e := range wantOff {
		h, _, err := decodeFrame(sealed[e.b:])
		if err != nil || h.index != e.index || h.baseOffset != e.a {
			t.Fatalf("offset index entry %+v points at frame %+v (%v)", e, h, err)
		}
	}

	// The synced mark: the clean Close left the end of the active segment.
	m, at, ok, _, err := openSyncedMark(rdir)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.close(false); err != nil {
		t.Fatal(err)
	}
	active := readFile(t, filepath.Join(rdir, "00000000000000000005.log"))
	if want := (syncedPos{base: 5, pos: int64(len(active))}); !ok || at != want {
		t.Fatalf("synced mark %+v (valid %v), want %+v", at, ok, want)
	}

	// The whole log, through Open.
	r := openTest(t, rdir, goldenLogOptions())
	defer r.Close()
	if r.FirstIndex() != 1 || r.LastIndex() != 7 || r.StartOffset() != 0 || r.NextOffset() != 7 {
		t.Fatalf("indexes [%d, %d], offsets [%d, %d), want [1, 7], [0, 7)", r.FirstIndex(), r.LastIndex(), r.StartOffset(), r.NextOffset())
	}
	got, err := r.Entries(1, 8, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	if !entriesEqual(got, entries) {
		t.Fatalf("entries read back differ from those written")
	}
	wantSegs := []SegmentInfo{
		{FirstIndex: 1, LastIndex: 4, BaseOffset: 0, NextOffset: 3, MaxTimestamp: 1005, Size: int64(len(sealed))},
		{FirstIndex: 5, LastIndex: 7, BaseOffset: 3, NextOffset: 7, MaxTimestamp: 1030, Size: int64(len(active)), Active: true},
	}
	if segs := r.Segments(); len(segs) != len(wantSegs) || segs[0] != wantSegs[0] || segs[1] != wantSegs[1] {
		t.Fatalf("segments %+v, want %+v", segs, wantSegs)
	}
	for _, c := range []struct {
		index  uint64
		offset int64
		count  uint32
	}{{2, 0, 2}, {4, 2, 1}, {5, 3, 3}, {7, 6, 1}} {
		if off, n, err := r.EntryOffsets(c.index); err != nil || off != c.offset || n != c.count {
			t.Fatalf("EntryOffsets(%d) = %d, %d, %v; want %d, %d", c.index, off, n, err, c.offset, c.count)
		}
	}
}

// TestGoldenSynced writes a synced file holding two positions (the later
// in slot 0, so the slot order is pinned too).
func TestGoldenSynced(t *testing.T) {
	dir := t.TempDir()
	m, _, ok, created, err := openSyncedMark(dir)
	if err != nil || ok || !created {
		t.Fatalf("new synced file: valid %v, created %v, %v", ok, created, err)
	}
	for _, p := range []syncedPos{{base: 1, pos: 4096}, {base: 0x0102030405060708, pos: 0x1122334455667788}} {
		if err := m.advance(p, m.currentEpoch()); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.close(true /* flush */); err != nil {
		t.Fatal(err)
	}
	b := golden.Check(t, "synced.golden", readFile(t, filepath.Join(dir, syncedFile)))
	if len(b) != syncedSlotSize+syncedSlotData {
		t.Fatalf("synced file of %d bytes, want %d", len(b), syncedSlotSize+syncedSlotData)
	}
	rdir := t.TempDir()
	writeFile(t, filepath.Join(rdir, syncedFile), b)
	r, at, ok, _, err := openSyncedMark(rdir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close(false)
	if want := (syncedPos{base: 0x0102030405060708, pos: 0x1122334455667788}); !ok || at != want || r.seq != 2 {
		t.Fatalf("read %+v seq %d (valid %v), want %+v seq 2", at, r.seq, ok, want)
	}
}

func TestGoldenBoundary(t *testing.T) {
	want := Boundary{Index: 0x0102030405060708, Term: 9, NextOffset: 1234567}
	dir := t.TempDir()
	if err := writeBoundary(dir, want); err != nil {
		t.Fatal(err)
	}
	b := golden.Check(t, "boundary.golden", readFile(t, filepath.Join(dir, boundaryFile)))
	rdir := t.TempDir()
	writeFile(t, filepath.Join(rdir, boundaryFile), b)
	got, ok, err := readBoundary(rdir)
	if err != nil || !ok || got != want {
		t.Fatalf("read %+v (found %v, %v), want %+v", got, ok, err, want)
	}
}

// TestBatchAttributes: a codec is read back; a codec or flag this version
// does not know is refused, never misread.
func TestBatchAttributes(t *testing.T) {
	for attrs, ok := range map[uint16]bool{0: true, 4: true, 5: false, 7: false, 8: false, 0x8004: false} {
		h, _, err := DecodeBatchHeader(EncodeBatch(BatchHeader{RecordCount: 1, Attributes: attrs}, []byte("x")))
		switch {
		case ok && (err != nil || h.Attributes != attrs):
			t.Fatalf("attributes %#x: %+v, %v", attrs, h, err)
		case !ok && !errors.Is(err, ErrCorrupt):
			t.Fatalf("attributes %#x: %v, want ErrCorrupt", attrs, err)
		}
	}
}
