package raftstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-broker/runnel/raftstore"
)

// TestCorruptFrameFailsOnePartition damages, on the leader's disk, a frame
// a returning follower needs. Raft panics on a storage error it does not
// know, which took the whole broker down: now the leader's replica of
// that partition stops (ErrFailed), its other partitions go on, the
// others elect a leader whose copy is intact, and the follower catches
// up from it with nothing acknowledged lost.
func TestCorruptFrameFailsOnePartition(t *testing.T) {
	replicas, peers := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "rot-0")
	others := openEverywhere(t, replicas, "fine-0")
	h := newHistory(t, parts...)
	for i := range 5 {
		h.propose(fmt.Sprintf("early-%d", i))
	}
	leader := agreedLeader(t, parts)
	follower := replicas[leader%3]
	h.check(parts[leader%3])
	follower.stop(t)
	for i := range 50 {
		h.propose(fmt.Sprintf("late-%02d", i))
	}
	lp := parts[leader-1]
	if lp.Leader() != leader {
		t.Fatalf("leadership moved to %d while the follower was down", lp.Leader())
	}

	// Flip a byte of one late record's payload in the leader's log file:
	// its frame's CRC no longer matches. (Reads see it: the log is mapped
	// shared.)
	logs, err := filepath.Glob(filepath.Join(replicas[leader-1].dir, "rot-0", "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("the leader's segments: %v %v", logs, err)
	}
	damaged := false
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if at := bytes.Index(b, []byte("late-10")); at >= 0 {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("LATE"), int64(at)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			damaged = true
		}
	}
	if !damaged {
		t.Fatal("no segment holds late-10")
	}

	follower.start(t, peers)
	back, err := follower.store.OpenPartition("rot-0", raftstore.PartitionConfig{Voters: []uint64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	h.parts[follower.id-1] = back
	waitUntil(t, "the leader's replica of rot-0 failed", func() bool { return lp.Err() != nil })
	if err := lp.Err(); !errors.Is(err, raftstore.ErrFailed) || !errors.Is(err, raftstore.ErrCorrupt) {
		t.Fatalf("the leader's replica stopped on %v, want ErrFailed for ErrCorrupt", err)
	}
	if _, err := lp.Propose(context.Background(), raftstore.BatchHeader{RecordCount: 1}, []byte("refused")); !errors.Is(err, raftstore.ErrFailed) {
		t.Fatalf("a proposal to the failed replica: %v, want ErrFailed", err)
	}
	h.parts[leader-1] = nil
	h.proposeAcked("after")
	for _, p := range h.parts {
		if p != nil {
			h.check(p)
		}
	}
	// The broker's other partition is untouched.
	fine, err := follower.store.OpenPartition("fine-0", raftstore.PartitionConfig{Voters: []uint64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	others[follower.id-1] = fine
	hf := newHistory(t, others...)
	hf.proposeAcked("still fine")
	for _, p := range others {
		hf.check(p)
	}
}
