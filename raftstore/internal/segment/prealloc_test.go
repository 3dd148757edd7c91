package segment

import (
	"os"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestPreallocation checks the life of the active segment's preallocated
// space: allocated ahead of the data while open, survived by a crash (the
// zeros are not data), and trimmed away by Close.
func TestPreallocation(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(64<<20, 4096)
	l := openTest(t, dir, o)
	m := newModel()
	appendBoth(t, l, m, genEntries(1, 40, 1))
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	path := lastLog(t, dir)
	data := l.Segments()[0].Size
	if got := fileSize(t, path); got <= data {
		t.Fatalf("file is %d bytes for %d of data: not preallocated", got, data)
	}

	// A crash: the log is never closed. The reopened log holds exactly
	// the entries, and appends go on over the zeros.
	abandon(l)
	crashed := openTest(t, dir, o)
	check(t, crashed, m)
	appendBoth(t, crashed, m, genEntries(40, 50, 1))
	check(t, crashed, m)
	if err := crashed.Close(); err != nil {
		t.Fatal(err)
	}

	reopened := openTest(t, dir, o)
	defer reopened.Close()
	check(t, reopened, m)
	if got, want := fileSize(t, path), reopened.Segments()[0].Size; got != want {
		t.Fatalf("after Close the file is %d bytes, its data %d", got, want)
	}
}

// TestTruncationLeavesNoStaleFrames replaces an uncommitted suffix with
// shorter entries inside a preallocated segment and "crashes": recovery
// must not find the old frames after the new ones.
func TestTruncationLeavesNoStaleFrames(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(64<<20, 4096)
	l := openTest(t, dir, o)
	m := newModel()
	appendBoth(t, l, m, genEntries(1, 30, 1))
	// Entry 20 again in term 2, then nothing: entries 21..29 of term 1
	// were in the file after it.
	appendBoth(t, l, m, genEntries(20, 21, 2))
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	abandon(l)
	crashed := openTest(t, dir, o)
	defer crashed.Close()
	check(t, crashed, m)
	if last := crashed.LastIndex(); last != 20 {
		t.Fatalf("last index %d after recovery, want 20", last)
	}
}

// abandon drops a log as a killed process would: files closed, nothing
// trimmed or synced.
func abandon(l *Log) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.segs {
		_ = s.close()
	}
	_ = l.mark.close(false /* flush */)
}

// TestSealedSegmentZeroTail covers a crash between a segment's last write
// and the trim that seals it: the zeros are dropped on open.
func TestSealedSegmentZeroTail(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(2048, 256)
	m := buildLog(t, dir, o, 60)
	logs := files(t, dir, logExt)
	if len(logs) < 3 {
		t.Fatalf("want several segments, got %d", len(logs))
	}
	sealed := logs[0]
	good := readFile(t, sealed)
	writeFile(t, sealed, append(good, make([]byte, 8192)...))
	l := openTest(t, dir, o)
	defer l.Close()
	check(t, l, m)
	if got := fileSize(t, sealed); got != int64(len(good)) {
		t.Fatalf("sealed segment is %d bytes after open, want %d", got, len(good))
	}
}

// TestPreallocationGrowsWithWrites checks that the space reserved ahead of
// the data grows with what the segment has written: an idle partition's
// segment reserves one small step, a busy one's reaches the largest step.
func TestPreallocationGrowsWithWrites(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, testOptions(1<<30, 4096))
	defer l.Close()
	m := newModel()
	appendBoth(t, l, m, genEntries(1, 2, 1))
	path := lastLog(t, dir)
	if got := fileSize(t, path); got != minPreallocStep {
		t.Fatalf("after one small entry the file is %d bytes, want one step of %d", got, minPreallocStep)
	}
	payload := make([]byte, 96<<10)
	maxReserve := int64(0)
	for i := uint64(2); i < 260; i++ {
		e := raftpb.Entry{Index: i, Term: 1, Data: EncodeBatch(BatchHeader{RecordCount: 1}, payload)}
		appendBoth(t, l, m, []raftpb.Entry{e})
		data := l.Segments()[0].Size
		reserve := fileSize(t, path) - data
		if reserve < 0 || reserve > min(data+minPreallocStep, maxPreallocStep) {
			t.Fatalf("%d bytes reserved after %d bytes of data", reserve, data)
		}
		maxReserve = max(maxReserve, reserve)
	}
	if maxReserve <= maxPreallocStep/2 {
		t.Fatalf("the step never grew past %d bytes over %d bytes of writes", maxReserve, l.Segments()[0].Size)
	}
	check(t, l, m)
}
