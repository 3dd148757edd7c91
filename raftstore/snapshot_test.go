package raftstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/raftstore"
)

// kvMachine is a state machine over batches "key=value": the last value
// of each key, plus how it got there (batches applied, snapshots restored),
// so that a test can tell a replay from a restore.
type kvMachine struct {
	mu       sync.Mutex
	kv       map[string]string
	applied  int      // batches applied since it was created
	indexes  []uint64 // their raft indexes
	restores int
}

func newKV() *kvMachine { return &kvMachine{kv: map[string]string{}} }

func (m *kvMachine) apply(b raftstore.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, v, _ := strings.Cut(string(b.Payload), "=")
	m.kv[k] = v
	m.applied++
	m.indexes = append(m.indexes, b.Index)
	return nil
}

// snapshot encodes the map (JSON sorts its keys: equal states encode
// equally).
func (m *kvMachine) snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return json.Marshal(m.kv)
}

func (m *kvMachine) restore(b []byte) error {
	kv := map[string]string{}
	if err := json.Unmarshal(b, &kv); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kv = kv
	m.restores++
	return nil
}

func (m *kvMachine) state() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.kv)
}

func (m *kvMachine) counts() (applied, restores int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied, m.restores
}

// config is a snapshotting state machine partition over m, with segments
// large enough that only snapshots roll them.
func (m *kvMachine) config(every, catchUp uint64) raftstore.PartitionConfig {
	return raftstore.PartitionConfig{
		Apply:                  m.apply,
		Snapshot:               m.snapshot,
		Restore:                m.restore,
		SnapshotEntries:        every,
		SnapshotCatchUpEntries: catchUp,
		SegmentBytes:           64 << 20,
	}
}

func openSingle(t *testing.T, dir string) *raftstore.Store {
	t.Helper()
	s, err := raftstore.Open(raftstore.Config{
		Dir:                    dir,
		RetentionCheckInterval: 20 * time.Millisecond,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func proposeKV(t *testing.T, p *raftstore.Partition, payload string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	off, err := p.Propose(ctx, raftstore.BatchHeader{RecordCount: 1}, []byte(payload))
	if err != nil {
		t.Fatalf("propose %q: %v", payload, err)
	}
	return off
}

func segmentFiles(t *testing.T, dir string) int {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(logs)
}

// TestSnapshotTruncatesLogAndRestores commits 600 batches to a state
// machine partition that snapshots every 50 entries and keeps 10 before
// each: a snapshot file appears and the log before the last snapshots is
// deleted; a reopen restores the snapshot and applies only the batches
// after it, reaching the state the whole log built.
func TestSnapshotTruncatesLogAndRestores(t *testing.T) {
	dir := t.TempDir()
	const total, every, catchUp = 600, 50, 10
	m := newKV()
	s := openSingle(t, dir)
	p, err := s.OpenPartition("meta-0", m.config(every, catchUp))
	if err != nil {
		t.Fatal(err)
	}
	waitReadyExt(t, p)
	for i := range total {
		proposeKV(t, p, fmt.Sprintf("k%d=v%d", i%37, i))
	}
	pdir := filepath.Join(dir, "meta-0")
	// The appender saves and truncates after the loop applied.
	waitUntil(t, "the log before the last snapshots deleted", func() bool {
		return p.LogStartOffset() >= total-2*every-catchUp
	})
	if _, err := os.Stat(filepath.Join(pdir, "snapshot")); err != nil {
		t.Fatalf("no snapshot file: %v", err)
	}
	if n := segmentFiles(t, pdir); n > 3 {
		t.Fatalf("%d segments left after snapshots every %d entries", n, every)
	}
	want := m.state()
	if len(want) != 37 || want["k0"] != "v592" {
		t.Fatalf("state %v", want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := newKV()
	s = openSingle(t, dir)
	defer s.Close()
	p, err = s.OpenPartition("meta-0", m2.config(every, catchUp))
	if err != nil {
		t.Fatal(err)
	}
	waitReadyExt(t, p)
	applied, restores := m2.counts()
	if restores != 1 || applied >= every+catchUp {
		t.Fatalf("reopen restored %d snapshots and applied %d batches; want 1 and fewer than %d", restores, applied, every+catchUp)
	}
	if got := m2.state(); !maps.Equal(got, want) {
		t.Fatalf("restored state %v, want %v", got, want)
	}
	// It goes on from there.
	if off := proposeKV(t, p, "k0=after"); off != total {
		t.Fatalf("next batch at offset %d, want %d", off, total)
	}
	if got := m2.state()["k0"]; got != "after" {
		t.Fatalf("k0 = %q after the next batch", got)
	}
}

// TestSnapshotOff checks that a state machine partition without Snapshot
// keeps its whole log and replays it on open, as before snapshots.
func TestSnapshotOff(t *testing.T) {
	dir := t.TempDir()
	m := newKV()
	cfg := m.config(10, 1)
	cfg.Snapshot, cfg.Restore = nil, nil
	s := openSingle(t, dir)
	p, err := s.OpenPartition("meta-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReadyExt(t, p)
	for i := range 100 {
		proposeKV(t, p, fmt.Sprintf("k%d=v", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "meta-0", "snapshot")); !os.IsNotExist(err) {
		t.Fatalf("a snapshot file without snapshots: %v", err)
	}
	m2 := newKV()
	cfg = m2.config(10, 1)
	cfg.Snapshot, cfg.Restore = nil, nil
	s = openSingle(t, dir)
	defer s.Close()
	p, err = s.OpenPartition("meta-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReadyExt(t, p)
	if applied, _ := m2.counts(); applied != 100 || p.LogStartOffset() != 0 {
		t.Fatalf("replayed %d batches from log start %d, want 100 from 0", applied, p.LogStartOffset())
	}
}

func waitReadyExt(t *testing.T, p *raftstore.Partition) {
	t.Helper()
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("partition %s not ready", p.Name())
	}
}

// TestFollowerCatchesUpFromSnapshot stops a follower of a three-replica
// state machine group while the others commit far past what the leader's
// log keeps; restarted, the follower gets the leader's snapshot (it
// restores one, and its own log starts past where it stopped), applies the
// entries after it, and ends with the leader's state; so it does after
// another restart, from its own copy of the snapshot.
func TestFollowerCatchesUpFromSnapshot(t *testing.T) {
	replicas, peers := startCluster(t, 3)
	const every, catchUp = 40, 5
	machines := make([]*kvMachine, 3)
	cfgFor := func(i int) raftstore.PartitionConfig {
		cfg := machines[i].config(every, catchUp)
		cfg.Voters = []uint64{1, 2, 3}
		cfg.Campaign = i == 0
		return cfg
	}
	var parts []*raftstore.Partition
	for i, r := range replicas {
		machines[i] = newKV()
		p, err := r.store.OpenPartition("meta-0", cfgFor(i))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	h := newHistory(t, parts...)
	h.proposeAcked("first=1")
	leader := agreedLeader(t, parts)
	fi := int(leader % 3) // a follower
	h.check(parts[fi])
	stoppedAt := parts[fi].HighWatermark()
	replicas[fi].stop(t)

	lp := parts[leader-1]
	for i := range 400 {
		h.proposeAcked(fmt.Sprintf("k%d=%d", i%23, i))
	}
	waitUntil(t, "the leader's log to start past the stopped follower", func() bool {
		return lp.LogStartOffset() > stoppedAt+every
	})

	replicas[fi].start(t, peers)
	machines[fi] = newKV()
	p, err := replicas[fi].store.OpenPartition("meta-0", cfgFor(fi))
	if err != nil {
		t.Fatal(err)
	}
	h.parts[fi] = p
	_, off := h.proposeAcked("after=1")
	waitUntil(t, "the follower to apply the last batch", func() bool { return p.HighWatermark() == off+1 })
	if _, restores := machines[fi].counts(); restores == 0 {
		t.Fatal("the follower caught up without restoring a snapshot")
	}
	if p.LogStartOffset() <= stoppedAt {
		t.Fatalf("the follower's log starts at %d, where it stopped (%d): it did not take the snapshot", p.LogStartOffset(), stoppedAt)
	}
	want := machines[leader-1].state()
	waitUntil(t, "every replica to apply the last batch", func() bool {
		for _, m := range machines {
			if m.state()["after"] != "1" {
				return false
			}
		}
		return true
	})
	for i, m := range machines {
		if got := m.state(); !maps.Equal(got, want) {
			t.Fatalf("replica %d has state %v, the leader %v", i+1, got, want)
		}
	}
	if len(want) != 25 {
		t.Fatalf("the leader's state has %d keys, want 25", len(want))
	}

	// The installed snapshot is the follower's own now.
	replicas[fi].stop(t)
	replicas[fi].start(t, peers)
	machines[fi] = newKV()
	p, err = replicas[fi].store.OpenPartition("meta-0", cfgFor(fi))
	if err != nil {
		t.Fatal(err)
	}
	waitReadyExt(t, p)
	if _, restores := machines[fi].counts(); restores != 1 {
		t.Fatalf("the restarted follower restored %d snapshots on open, want 1", restores)
	}
	waitUntil(t, "the restarted follower's state", func() bool { return maps.Equal(machines[fi].state(), want) })
}

// TestSnapshotAfterBytes checks the byte policy: with an entry count never
// reached, entries holding SnapshotBytes make a snapshot, and the log
// before it goes.
func TestSnapshotAfterBytes(t *testing.T) {
	dir := t.TempDir()
	m := newKV()
	cfg := m.config(1_000_000, 2)
	cfg.SnapshotBytes = 4 << 10
	s := openSingle(t, dir)
	defer s.Close()
	p, err := s.OpenPartition("meta-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReadyExt(t, p)
	for i := range 100 {
		proposeKV(t, p, fmt.Sprintf("k%d=%s", i, strings.Repeat("v", 200)))
	}
	waitUntil(t, "a snapshot after 4 KiB of entries to delete the log before it", func() bool { return p.LogStartOffset() > 50 })
	if _, err := os.Stat(filepath.Join(dir, "meta-0", "snapshot")); err != nil {
		t.Fatalf("no snapshot file: %v", err)
	}
}
