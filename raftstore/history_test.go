package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/raftstore"
)

// history proposes one-record batches on a group's leader and remembers
// what each proposal's outcome says of it: acknowledged at an offset,
// never appended (ErrNotLeader: proposed again), or unknown (appended by
// a leader that lost the group before it committed: it may or may not be
// in the log, and is never proposed again). No payload is proposed twice
// after an unknown outcome, so check can tell a duplicate from a retry.
type history struct {
	t *testing.T
	// parts are the group's replicas by node id (parts[id-1]); a
	// stopped replica's stays until replaced.
	parts   []*raftstore.Partition
	acked   map[string]int64
	unknown map[string]bool
}

func newHistory(t *testing.T, parts ...*raftstore.Partition) *history {
	return &history{t: t, parts: parts, acked: map[string]int64{}, unknown: map[string]bool{}}
}

// propose proposes payload on the replica that leads, retrying while the
// group has no leader, and returns its offset; false when its outcome is
// unknown.
func (h *history) propose(payload string) (int64, bool) {
	h.t.Helper()
	if _, dup := h.acked[payload]; dup || h.unknown[payload] {
		h.t.Fatalf("history: %q proposed twice", payload)
	}
	closed := map[int]bool{} // replicas found stopped
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			h.t.Fatalf("propose %q: no leader took it in 20s", payload)
		}
		leader := -1
		for i, p := range h.parts {
			if p != nil && !closed[i] && p.Leader() == uint64(i+1) {
				leader = i
			}
		}
		if leader < 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		batch := append(raftstore.NewBatch(len(payload)), payload...)
		pr, err := h.parts[leader].Submit(ctx, raftstore.BatchHeader{RecordCount: 1}, batch, raftstore.SubmitOptions{})
		var off int64
		if err == nil {
			off, err = pr.Wait(ctx)
		} else if errors.Is(err, raftstore.ErrClosed) {
			// Refused before it was taken: never appended.
			closed[leader] = true
			cancel()
			continue
		}
		cancel()
		switch {
		case err == nil:
			h.acked[payload] = off
			return off, true
		case errors.Is(err, raftstore.ErrNotLeader):
			// Never appended (the replica's view of the leader was
			// stale): propose it again.
			time.Sleep(20 * time.Millisecond)
		case errors.Is(err, raftstore.ErrLeaderChanged), errors.Is(err, raftstore.ErrProposalTimeout),
			errors.Is(err, context.DeadlineExceeded), errors.Is(err, raftstore.ErrClosed):
			h.unknown[payload] = true
			h.t.Logf("history: %q has an unknown outcome: %v", payload, err)
			return 0, false
		default:
			h.t.Fatalf("propose %q: %v", payload, err)
		}
	}
}

// proposeAcked proposes payload, and after an unknown outcome proposes
// it again under a new name (payload#2, #3, ...), until one is
// acknowledged; it returns that one and its offset.
func (h *history) proposeAcked(payload string) (string, int64) {
	h.t.Helper()
	name := payload
	for try := 2; ; try++ {
		if off, ok := h.propose(name); ok {
			return name, off
		}
		name = fmt.Sprintf("%s#%d", payload, try)
	}
}

// check waits until p has committed every acknowledged payload, and fails
// at once if its log holds anything else: a payload at another offset
// than its ack's, one never proposed, or one twice.
func (h *history) check(p *raftstore.Partition) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen := map[string]int64{}
		for from := p.LogStartOffset(); from < p.HighWatermark(); {
			batches, err := p.Read(from, 1<<20)
			if err != nil {
				h.t.Fatal(err)
			}
			for _, b := range batches {
				payload := string(b.Payload)
				off, acked := h.acked[payload]
				switch prev, dup := seen[payload]; {
				case dup:
					h.t.Fatalf("%q is in the log twice, at offsets %d and %d", payload, prev, b.BaseOffset)
				case acked && off != b.BaseOffset:
					h.t.Fatalf("%q acknowledged at offset %d is in the log at %d", payload, off, b.BaseOffset)
				case !acked && !h.unknown[payload]:
					h.t.Fatalf("%q at offset %d was never proposed", payload, b.BaseOffset)
				}
				seen[payload] = b.BaseOffset
				from = b.BaseOffset + int64(b.Header.RecordCount)
			}
		}
		missing := ""
		for payload, off := range h.acked {
			if _, ok := seen[payload]; !ok && off >= p.LogStartOffset() {
				missing = fmt.Sprintf("%q acknowledged at offset %d", payload, off)
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("after 10s the replica's log (offsets %d to %d) lacks %s", p.LogStartOffset(), p.HighWatermark(), missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// followerRefuses proposes payload on a follower, which must refuse it at
// once with ErrNotLeader rather than hand it to the leader through raft
// (PartitionConfig.ForwardProposals is off).
func (h *history) followerRefuses(payload string) {
	h.t.Helper()
	for i, p := range h.parts {
		id := uint64(i + 1)
		if p == nil || p.Leader() == id || p.Leader() == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		off, err := p.Propose(ctx, raftstore.BatchHeader{RecordCount: 1}, []byte(payload))
		cancel()
		switch {
		case errors.Is(err, raftstore.ErrNotLeader):
		case err == nil && p.Leader() == id:
			// It was elected meanwhile: a leader's own proposal.
			h.acked[payload] = off
		default:
			h.t.Fatalf("a follower's proposal: offset %d, %v; want ErrNotLeader", off, err)
		}
		return
	}
	h.t.Fatal("no follower to propose on")
}
