package raftstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Config{
		Dir:                    dir,
		RetentionCheckInterval: 20 * time.Millisecond,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitReady(t *testing.T, p *Partition) {
	t.Helper()
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("partition %s not ready", p.Name())
	}
}

func propose(t *testing.T, p *Partition, payload string, records uint32) int64 {
	t.Helper()
	now := time.Now().UnixMilli()
	off, err := p.Propose(context.Background(), BatchHeader{RecordCount: records, FirstTimestamp: now, MaxTimestamp: now}, []byte(payload))
	if err != nil {
		t.Fatalf("propose %q: %v", payload, err)
	}
	return off
}

func readPayloads(t *testing.T, p *Partition, from int64) []string {
	t.Helper()
	var out []string
	for from < p.HighWatermark() {
		batches, err := p.Read(from, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			out = append(out, string(b.Payload))
			from = b.BaseOffset + int64(b.Header.RecordCount)
		}
	}
	return out
}

// TestProposeReadReopen proposes pipelined batches, reads them back,
// reopens the store and checks everything is still there with the same
// offsets and that appending continues from them.
func TestProposeReadReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	p, err := s.OpenPartition("t-0", PartitionConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	var proposals []*Proposal
	for i := range 100 {
		pr, err := p.Submit(context.Background(), BatchHeader{RecordCount: 3}, append(NewBatch(9), fmt.Sprintf("batch %03d", i)...), SubmitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		proposals = append(proposals, pr)
	}
	for i, pr := range proposals {
		off, err := pr.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if off != int64(3*i) {
			t.Fatalf("batch %d at offset %d, want %d", i, off, 3*i)
		}
	}
	if hw := p.HighWatermark(); hw != 300 {
		t.Fatalf("high watermark %d, want 300", hw)
	}
	before := readPayloads(t, p, 0)
	if len(before) != 100 || before[99] != "batch 099" {
		t.Fatalf("read %d batches, last %q", len(before), before[len(before)-1])
	}
	// A read from the middle of a batch starts with that batch.
	if got := readPayloads(t, p, 7); got[0] != "batch 002" {
		t.Fatalf("read from offset 7 starts with %q", got[0])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir)
	defer s.Close()
	p, err = s.OpenPartition("t-0", PartitionConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	if hw := p.HighWatermark(); hw != 300 {
		t.Fatalf("high watermark after reopen %d, want 300", hw)
	}
	after := readPayloads(t, p, 0)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("log changed across reopen")
	}
	if off := propose(t, p, "more", 1); off != 300 {
		t.Fatalf("append after reopen at %d, want 300", off)
	}
}

// TestStateMachineReplays checks that a state machine partition sees every
// batch in order, again from the start after a reopen, and that its
// errors reach the proposer.
func TestStateMachineReplays(t *testing.T) {
	dir := t.TempDir()
	var (
		mu      sync.Mutex
		applied []string
	)
	cfg := PartitionConfig{Apply: func(b Batch) error {
		mu.Lock()
		defer mu.Unlock()
		applied = append(applied, string(b.Payload))
		if string(b.Payload) == "bad" {
			return errors.New("rejected")
		}
		return nil
	}}
	s := openStore(t, dir)
	p, err := s.OpenPartition("meta-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	propose(t, p, "a", 1)
	if _, err := p.Propose(context.Background(), BatchHeader{RecordCount: 1}, []byte("bad")); err == nil || err.Error() != "rejected" {
		t.Fatalf("proposal the state machine rejected returned %v", err)
	}
	propose(t, p, "b", 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	applied = nil
	mu.Unlock()

	s = openStore(t, dir)
	defer s.Close()
	p, err = s.OpenPartition("meta-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(applied) != "[a bad b]" {
		t.Fatalf("replayed %v, want [a bad b] by the time Ready closes", applied)
	}
}

// TestChangedWakesReaders checks the notifier: a reader parked at the high
// watermark wakes when a batch commits.
func TestChangedWakesReaders(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	p, err := s.OpenPartition("t-0", PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	changed := p.Changed()
	if p.HighWatermark() != 0 {
		t.Fatal("fresh partition has records")
	}
	proposed := make(chan error, 1)
	go func() {
		_, err := p.Propose(context.Background(), BatchHeader{RecordCount: 1}, []byte("x"))
		proposed <- err
	}()
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("reader not woken by a commit")
	}
	if err := <-proposed; err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d after one record", hw)
	}
}

// TestRetentionMovesLogStart checks that retention deletes old segments,
// that reads below the new log start fail and that the boundary survives
// a reopen.
func TestRetentionMovesLogStart(t *testing.T) {
	dir := t.TempDir()
	cfg := PartitionConfig{SegmentBytes: 2048, RetentionBytes: 4096}
	s := openStore(t, dir)
	p, err := s.OpenPartition("t-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	payload := string(make([]byte, 300))
	for range 60 {
		propose(t, p, payload, 2)
	}
	// Retention keeps at least retention.bytes, so at most one segment
	// (and a frame) more.
	waitFor(t, func() bool { return p.LogStartOffset() > 0 && p.Size() <= 4096+2048+512 })
	start := p.LogStartOffset()
	if _, err := p.Read(0, 1024); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	// raft compares Storage errors with ==: they must be its sentinels, bare.
	if _, err := p.storage.Term(1); err != raft.ErrCompacted {
		t.Fatalf("Term of a compacted index: %v, want raft.ErrCompacted itself", err)
	}
	if _, err := p.storage.Entries(1, 2, 1<<20); err != raft.ErrCompacted {
		t.Fatalf("Entries of a compacted index: %v, want raft.ErrCompacted itself", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	p, err = s.OpenPartition("t-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	if got := p.LogStartOffset(); got < start {
		t.Fatalf("log start %d after reopen, was %d", got, start)
	}
	if off := propose(t, p, "after", 1); off != 120 {
		t.Fatalf("append after retention and reopen at %d, want 120", off)
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := readState(dir); ok || err != nil {
		t.Fatalf("missing state file: ok=%v err=%v", ok, err)
	}
	var st persistentState
	st.hard.Term, st.hard.Vote, st.hard.Commit = 3, 1, 42
	st.conf.Voters = []uint64{1, 2, 3}
	if err := writeState(dir, st); err != nil {
		t.Fatal(err)
	}
	got, ok, err := readState(dir)
	if err != nil || !ok || got.hard.Commit != 42 || len(got.conf.Voters) != 3 {
		t.Fatalf("read back %+v ok=%v err=%v", got, ok, err)
	}
	// A flipped byte is caught by the checksum.
	path := filepath.Join(dir, stateFileName)
	b := mustRead(t, path)
	b[len(b)-1] ^= 0xff
	mustWrite(t, path, b)
	if _, _, err := readState(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt state file: %v", err)
	}
}

func TestDeletePartitionRemovesFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	p, err := s.OpenPartition("gone-0", PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	propose(t, p, "x", 1)
	if err := s.DeletePartition("gone-0"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Propose(context.Background(), BatchHeader{RecordCount: 1}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("propose to a deleted partition: %v", err)
	}
	names, err := s.PartitionNames()
	if err != nil || len(names) != 0 {
		t.Fatalf("partitions left: %v %v", names, err)
	}
}

// TestDeleteLongestName deletes partitions whose names are as long as a
// file name can be, and one that was being deleted when the broker
// stopped: the renamed directories must fit NAME_MAX, and reopening the
// store finishes the removal.
func TestDeleteLongestName(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	for _, n := range []int{MaxPartitionNameLength, MaxPartitionNameLength - len(deletedSuffix)} {
		name := strings.Repeat("t", n)
		p, err := s.OpenPartition(name, PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		waitReady(t, p)
		propose(t, p, "x", 1)
		if err := s.DeletePartition(name); err != nil {
			t.Fatalf("delete %d-byte name: %v", n, err)
		}
	}
	if _, err := s.OpenPartition(strings.Repeat("t", MaxPartitionNameLength+1), PartitionConfig{}); err == nil {
		t.Fatal("opened a partition whose name no file system takes")
	}
	// A deletion interrupted after its rename: reopening finishes it.
	stuck := filepath.Join(dir, deletingName(strings.Repeat("u", MaxPartitionNameLength)))
	if len(filepath.Base(stuck)) > MaxPartitionNameLength {
		t.Fatalf("deleting name of %d bytes", len(filepath.Base(stuck)))
	}
	if err := os.MkdirAll(filepath.Join(stuck, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Fatalf("left in the data directory: %v %v", left, err)
	}
}

// TestSubmitTooLarge refuses a batch no follower could receive, and the
// partition goes on committing.
func TestSubmitTooLarge(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	p, err := s.OpenPartition("big-0", PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	batch := NewBatch(MaxEntryBytes)[:MaxEntryBytes+1]
	if _, err := p.Submit(context.Background(), BatchHeader{RecordCount: 1}, batch, SubmitOptions{}); !errors.Is(err, ErrEntryTooLarge) {
		t.Fatalf("submit of %d bytes: %v, want ErrEntryTooLarge", len(batch), err)
	}
	if off := propose(t, p, "after", 1); off != 0 {
		t.Fatalf("next batch at offset %d, want 0", off)
	}
}

// TestCrashAfterRetention copies a partition's directory while it runs,
// after retention deleted segments (a crash as the disk saw it), and opens
// the copy: the state file's commit index must cover the deleted entries.
func TestCrashAfterRetention(t *testing.T) {
	dir := t.TempDir()
	cfg := PartitionConfig{SegmentBytes: 2048, RetentionBytes: 4096}
	s := openStore(t, dir)
	defer s.Close()
	p, err := s.OpenPartition("t-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	payload := string(make([]byte, 300))
	for range 60 {
		propose(t, p, payload, 2)
	}
	waitFor(t, func() bool { return p.LogStartOffset() > 0 && p.Size() <= 4096+2048+512 })
	crashed := t.TempDir()
	copyLive(t, filepath.Join(dir, "t-0"), filepath.Join(crashed, "t-0"))
	s2 := openStore(t, crashed)
	defer s2.Close()
	p2, err := s2.OpenPartition("t-0", cfg)
	if err != nil {
		t.Fatalf("reopen after a crash following retention: %v", err)
	}
	waitReady(t, p2)
	if p2.HighWatermark() != 120 || p2.LogStartOffset() == 0 {
		t.Fatalf("after crash: high watermark %d, log start %d", p2.HighWatermark(), p2.LogStartOffset())
	}
}

// TestProposeAfterStorageError checks that once a partition's storage
// fails, every proposal fails at once instead of waiting forever.
func TestProposeAfterStorageError(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	p, err := s.OpenPartition("t-0", PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	propose(t, p, "x", 1)
	p.log.Close() // the disk fails: the next append errors
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := p.Propose(ctx, BatchHeader{RecordCount: 1}, []byte("y"))
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("proposal %d after a storage error: %v, want the storage error", i, err)
		}
	}
}

// TestIncarnation checks that a directory left by an earlier incarnation
// of a partition is emptied rather than taken over.
func TestIncarnation(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	p, err := s.OpenPartition("t-0", PartitionConfig{Incarnation: "old"})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	propose(t, p, "old data", 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	same, err := s.OpenPartition("t-0", PartitionConfig{Incarnation: "old"})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, same)
	if same.HighWatermark() != 1 {
		t.Fatalf("same incarnation lost its data: high watermark %d", same.HighWatermark())
	}
	if err := same.Close(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	delete(s.partitions, "t-0")
	s.mu.Unlock()
	fresh, err := s.OpenPartition("t-0", PartitionConfig{Incarnation: "new"})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, fresh)
	if fresh.HighWatermark() != 0 {
		t.Fatalf("new incarnation found the old one's records: high watermark %d", fresh.HighWatermark())
	}
}

// copyLive copies the files of a partition directory in use, as a crash
// would leave them after a process kill: one at a time, skipping a file
// that is gone by the time it is read (a temporary file renamed, a
// segment deleted). (cp -a fails on those.)
func copyLive(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenLogsNoWarnings checks that opening a sole voter's partition,
// new and again after a restart, warns of nothing: raft refuses, with a
// warning, to campaign while a committed configuration change is
// unapplied, which a state machine's bootstrap entries are until the
// loop has handled its first Ready.
func TestOpenLogsNoWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  PartitionConfig
	}{
		{"data", PartitionConfig{}},
		{"state machine", PartitionConfig{Apply: func(Batch) error { return nil }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, open := range []string{"new", "restarted"} {
				var warnings warnRecorder
				s, err := Open(Config{Dir: dir, Logger: slog.New(&warnings)})
				if err != nil {
					t.Fatal(err)
				}
				p, err := s.OpenPartition("p-0", tc.cfg)
				if err != nil {
					t.Fatal(err)
				}
				waitReady(t, p)
				propose(t, p, "a", 1)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if got := warnings.messages(); len(got) > 0 {
					t.Errorf("%s partition warned: %q", open, got)
				}
			}
		})
	}
}

// warnRecorder is a slog.Handler keeping the messages of records at
// Warn and above.
type warnRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnRecorder) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}
func (w *warnRecorder) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnRecorder) WithGroup(string) slog.Handler      { return w }

func (w *warnRecorder) messages() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}
