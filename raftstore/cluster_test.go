package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/raftstore/transport"
)

// replica is one broker of a test cluster: a Store whose raft groups talk
// to the others through a real transport on 127.0.0.1.
type replica struct {
	id             uint64
	electionTicks  int           // 0: the default
	replicaLagTime time.Duration // 0: the default
	dir, addr      string
	store          *raftstore.Store
	transport      *transport.Transport
	server         *grpc.Server
}

// start opens the replica's store and serves its transport on addr,
// which reserveAddr holds for it.
func (r *replica) start(t *testing.T, peers map[uint64]string) {
	t.Helper()
	lis, err := reuseport.Listen(context.Background(), "tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.transport = transport.New(transport.Config{
		NodeID:        r.id,
		RetryInterval: 20 * time.Millisecond,
		Logger:        logger,
	})
	store, err := raftstore.Open(raftstore.Config{
		Dir:                    r.dir,
		NodeID:                 r.id,
		TickInterval:           20 * time.Millisecond,
		ElectionTicks:          r.electionTicks,
		ReplicaLagTime:         r.replicaLagTime,
		RetentionCheckInterval: 50 * time.Millisecond,
		Transport:              r.transport,
		Logger:                 logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.store = store
	r.transport.Attach(store)
	r.server = grpc.NewServer()
	r.transport.Register(r.server)
	go r.server.Serve(lis)
	for id, addr := range peers {
		if id != r.id {
			if err := r.transport.AddPeer(id, addr); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// reuseport listens with SO_REUSEPORT, as the socket reserveAddr binds.
var reuseport = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}}

// reserveAddr returns a loopback address for a replica to listen on, at
// each of its starts, and holds its port until the test ends: with a
// socket bound there with SO_REUSEPORT that never listens, which the
// replica's listener (SO_REUSEPORT too) binds beside. While the replica
// is stopped, connections to the port are refused, as to a crashed
// broker's, yet no other process can take it, as one could a port chosen
// by a listener and closed.
func reserveAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// stop closes the replica as a crash would look to the others: its
// listener goes away with the store.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.server.Stop()
	r.transport.Close()
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
}

func startCluster(t *testing.T, n int) ([]*replica, map[uint64]string) {
	t.Helper()
	return startClusterTicks(t, n, 0)
}

// startClusterTicks starts n replicas whose elections time out after
// electionTicks ticks of 20ms (0: the default).
func startClusterTicks(t *testing.T, n, electionTicks int) ([]*replica, map[uint64]string) {
	t.Helper()
	return startClusterWith(t, n, func(r *replica) { r.electionTicks = electionTicks })
}

// startClusterWith starts n replicas, each adjusted by set first.
func startClusterWith(t *testing.T, n int, set func(*replica)) ([]*replica, map[uint64]string) {
	t.Helper()
	replicas := make([]*replica, n)
	peers := map[uint64]string{}
	// Reserve every address first so that each replica knows every one.
	for i := range replicas {
		replicas[i] = &replica{id: uint64(i + 1), dir: t.TempDir(), addr: reserveAddr(t)}
		set(replicas[i])
		peers[replicas[i].id] = replicas[i].addr
	}
	for _, r := range replicas {
		r.start(t, peers)
	}
	t.Cleanup(func() {
		for _, r := range replicas {
			if r.store != nil {
				r.server.Stop()
				r.transport.Close()
				r.store.Close()
			}
		}
	})
	return replicas, peers
}

func openEverywhere(t *testing.T, replicas []*replica, name string) []*raftstore.Partition {
	t.Helper()
	var parts []*raftstore.Partition
	for _, r := range replicas {
		p, err := r.store.OpenPartition(name, raftstore.PartitionConfig{
			Voters:   []uint64{1, 2, 3},
			Campaign: r.id == 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	for _, p := range parts {
		select {
		case <-p.Ready():
		case <-time.After(10 * time.Second):
			t.Fatalf("partition %s on a replica has no leader after 10s", p.Name())
		}
	}
	return parts
}

// TestReplicatedPartition runs a partition on three stores over real
// transports: proposals on the leader commit everywhere at the same
// offsets, and a follower refuses one rather than forwarding it; after
// the leader stops a new one takes over with nothing acknowledged lost;
// the old leader comes back and catches up.
func TestReplicatedPartition(t *testing.T) {
	replicas, peers := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "orders-0")
	h := newHistory(t, parts...)

	var last int64 = -1
	for i := range 30 {
		payload := fmt.Sprintf("r%02d", i)
		if off, ok := h.propose(payload); ok {
			if off <= last {
				t.Fatalf("%s acknowledged at offset %d, after offset %d: out of order", payload, off, last)
			}
			last = off
		}
		if i == 10 {
			h.followerRefuses("refused")
		}
	}
	for _, p := range parts {
		h.check(p)
	}

	leader := agreedLeader(t, parts)
	if leader == 0 {
		t.Fatal("no leader")
	}
	replicas[leader-1].stop(t)
	for i := range 10 {
		h.propose(fmt.Sprintf("after-%d", i))
	}
	for i, p := range parts {
		if uint64(i+1) == leader {
			continue
		}
		if nl := p.Leader(); nl == leader || nl == 0 {
			t.Fatalf("leader after stopping %d is %d", leader, nl)
		}
		h.check(p)
	}

	old := replicas[leader-1]
	old.start(t, peers)
	p, err := old.store.OpenPartition("orders-0", raftstore.PartitionConfig{Voters: []uint64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	h.parts[leader-1] = p
	h.check(p)
	h.propose("back")
	for _, p := range h.parts {
		h.check(p)
	}
}

// TestRestartedFollowerIsReady restarts a follower of an idle group: it
// has applied its whole log and learns of the leader by heartbeats alone,
// with nothing new to apply, and must still become ready.
func TestRestartedFollowerIsReady(t *testing.T) {
	replicas, peers := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "idle-0")
	h := newHistory(t, parts...)
	h.proposeAcked("only")
	leader := agreedLeader(t, parts)
	follower := replicas[leader%3] // any replica but the leader
	h.check(parts[leader%3])
	follower.stop(t)
	follower.start(t, peers)
	p, err := follower.store.OpenPartition("idle-0", raftstore.PartitionConfig{Voters: []uint64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("a restarted follower of an idle group is not ready after 10s")
	}
	h.check(p)
}

// TestLeaderOnlyDurability stops both followers of a group whose leader
// keeps leading alone for a while (a 10 s election timeout): a LeaderOnly
// batch completes once the leader has it on disk, a Quorum batch does
// not, and the high watermark stays where the quorum left it.
func TestLeaderOnlyDurability(t *testing.T) {
	replicas, _ := startClusterTicks(t, 3, 500)
	parts := openEverywhere(t, replicas, "fast-0")
	newHistory(t, parts...).proposeAcked("first")
	leader := agreedLeader(t, parts)
	lp := parts[leader-1]
	hw := lp.HighWatermark()
	for i, r := range replicas {
		if uint64(i+1) != leader {
			r.stop(t)
		}
	}
	ctx := context.Background()
	quorum, err := lp.Submit(ctx, raftstore.BatchHeader{RecordCount: 1}, append(raftstore.NewBatch(6), "quorum"...), raftstore.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := lp.Submit(ctx, raftstore.BatchHeader{RecordCount: 1}, append(raftstore.NewBatch(4), "fast"...), raftstore.SubmitOptions{Durability: raftstore.LeaderOnly})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	off, err := fast.Wait(wctx)
	if err != nil || off != hw+1 {
		t.Fatalf("LeaderOnly batch with no follower: offset %d, %v; want %d once the leader has it", off, err, hw+1)
	}
	if got := lp.HighWatermark(); got != hw {
		t.Errorf("high watermark %d with no quorum since offset %d, want %d", got, hw, hw)
	}
	qctx, qcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer qcancel()
	if off, err := quorum.Wait(qctx); err == nil {
		t.Fatalf("Quorum batch completed at offset %d with both followers down", off)
	}
}

// TestRestartedFollowerReadyOnceCaughtUp restarts a follower that missed
// records while it was down: the leader and term are unchanged, so the
// follower learns of its leader at once, yet it becomes ready only once it
// has applied what the group committed without it.
func TestRestartedFollowerReadyOnceCaughtUp(t *testing.T) {
	replicas, peers := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "behind-0")
	h := newHistory(t, parts...)
	h.proposeAcked("first")
	leader := agreedLeader(t, parts)
	follower := replicas[leader%3]
	h.check(parts[leader%3])
	follower.stop(t)
	const missed = 50
	for i := range missed {
		h.proposeAcked(fmt.Sprintf("missed-%d", i))
	}
	follower.start(t, peers)
	p, err := follower.store.OpenPartition("behind-0", raftstore.PartitionConfig{Voters: []uint64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("a restarted follower is not ready after 10s")
	}
	if hw := p.HighWatermark(); hw < int64(len(h.acked)) {
		t.Fatalf("restarted follower ready at high watermark %d; the group had committed %d records", hw, len(h.acked))
	}
}

// TestOutcomesAcrossLeaderTransfers submits batches to a leader while its
// leadership moves away: a batch that completed is in the log at its
// offset, and one that failed with ErrNotLeader is nowhere in it (retrying
// it cannot duplicate).
func TestOutcomesAcrossLeaderTransfers(t *testing.T) {
	replicas, _ := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "moving-0")
	h := newHistory(t, parts...)
	h.proposeAcked("first")
	type outcome struct {
		payload string
		pr      *raftstore.Proposal
		offset  int64
		err     error
	}
	var outcomes []outcome
	ctx := context.Background()
	var previous uint64
	for round := range 5 {
		// A leader other than the last round's, settled: every replica
		// agrees on it.
		var leader uint64
		deadline := time.Now().Add(10 * time.Second)
		for {
			leader = parts[0].Leader()
			if leader != 0 && leader != previous && parts[1].Leader() == leader && parts[2].Leader() == leader {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: leaders %d %d %d after 10s, the last round's %d", round, parts[0].Leader(), parts[1].Leader(), parts[2].Leader(), previous)
			}
			time.Sleep(10 * time.Millisecond)
		}
		previous = leader
		lp := parts[leader-1]
		for i := range 20 {
			payload := fmt.Sprintf("round%d-%02d", round, i)
			pr, err := lp.Submit(ctx, raftstore.BatchHeader{RecordCount: 1}, append(raftstore.NewBatch(len(payload)), payload...), raftstore.SubmitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			outcomes = append(outcomes, outcome{payload: payload, pr: pr})
			if i == 10 {
				lp.TransferLeadership(leader%3 + 1)
			}
		}
		for i := len(outcomes) - 20; i < len(outcomes); i++ {
			wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			// NB: checked below, against the log.
			outcomes[i].offset, outcomes[i].err = outcomes[i].pr.Wait(wctx)
			cancel()
		}
	}
	h.proposeAcked("last")
	var committed []string
	for _, p := range parts {
		waitFor := time.Now().Add(10 * time.Second)
		for p.HighWatermark() < parts[0].HighWatermark() && time.Now().Before(waitFor) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	p := parts[0]
	for from := int64(0); from < p.HighWatermark(); {
		batches, err := p.Read(from, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			committed = append(committed, fmt.Sprintf("%d:%s", b.BaseOffset, b.Payload))
			from = b.BaseOffset + int64(b.Header.RecordCount)
		}
	}
	completed, notAppended := 0, 0
	for _, o := range outcomes {
		off, err := o.offset, o.err
		at := slices.IndexFunc(committed, func(c string) bool { return strings.HasSuffix(c, ":"+o.payload) })
		switch {
		case err == nil:
			completed++
			if at < 0 || committed[at] != fmt.Sprintf("%d:%s", off, o.payload) {
				t.Errorf("%s completed at offset %d but the log has it at %d", o.payload, off, at)
			}
		case errors.Is(err, raftstore.ErrNotLeader):
			notAppended++
			if at >= 0 {
				t.Errorf("%s failed with %v but the log has it: %s", o.payload, err, committed[at])
			}
		case errors.Is(err, raftstore.ErrLeaderChanged), errors.Is(err, raftstore.ErrProposalTimeout):
		default:
			t.Errorf("%s: unexpected %v", o.payload, err)
		}
	}
	t.Logf("%d batches: %d completed, %d not appended, across 5 leader transfers", len(outcomes), completed, notAppended)
	if completed == 0 {
		t.Fatal("no batch completed")
	}
}

// TestFollowerBehindLogStart stops a follower while retention on the
// others deletes entries it never got: back, it gets a snapshot (where
// the log starts, nothing more), continues from there, and ends with the
// leader's log from its start on, at the same offsets.
func TestFollowerBehindLogStart(t *testing.T) {
	replicas, peers := startCluster(t, 3)
	cfg := raftstore.PartitionConfig{Voters: []uint64{1, 2, 3}, SegmentBytes: 4096, RetentionBytes: 8192}
	var parts []*raftstore.Partition
	for _, r := range replicas {
		p, err := r.store.OpenPartition("compacted-0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	h := newHistory(t, parts...)
	h.proposeAcked("first")
	leader := agreedLeader(t, parts)
	follower := replicas[leader%3]
	h.check(parts[leader%3])
	follower.stop(t)

	lp := parts[leader-1]
	for i := range 200 {
		h.proposeAcked(fmt.Sprintf("%03d%s", i, strings.Repeat("x", 497)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for lp.LogStartOffset() < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("retention left the leader's log start at %d", lp.LogStartOffset())
		}
		time.Sleep(20 * time.Millisecond)
	}

	follower.start(t, peers)
	p, err := follower.store.OpenPartition("compacted-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	after, off := h.proposeAcked("after")
	deadline = time.Now().Add(10 * time.Second)
	for p.HighWatermark() != off+1 {
		if time.Now().After(deadline) {
			t.Fatalf("follower high watermark %d, log start %d; the leader's %d", p.HighWatermark(), p.LogStartOffset(), off+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.LogStartOffset() == 0 {
		t.Fatal("the follower's log still starts at 0: it did not take the snapshot")
	}
	// Same records at the same offsets, from the follower's log start on.
	start := max(p.LogStartOffset(), lp.LogStartOffset())
	leaderRecs, followerRecs := readFrom(t, lp, start), readFrom(t, p, start)
	if !slices.Equal(leaderRecs, followerRecs) || len(followerRecs) == 0 || followerRecs[len(followerRecs)-1] != fmt.Sprintf("%d:%s", off, after) {
		t.Fatalf("from offset %d the follower has %d records ending %q, the leader %d",
			start, len(followerRecs), followerRecs[len(followerRecs)-1:], len(leaderRecs))
	}

	// The snapshot's log start survives a restart.
	logStart := p.LogStartOffset()
	follower.stop(t)
	follower.start(t, peers)
	p, err = follower.store.OpenPartition("compacted-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the follower is not ready after a restart")
	}
	if p.LogStartOffset() < logStart || p.HighWatermark() != off+1 {
		t.Fatalf("after a restart the follower's log starts at %d (was %d), high watermark %d (want %d)",
			p.LogStartOffset(), logStart, p.HighWatermark(), off+1)
	}
}

// readFrom reads p's committed records from offset from on.
func readFrom(t *testing.T, p *raftstore.Partition, from int64) []string {
	t.Helper()
	var out []string
	for from < p.HighWatermark() {
		batches, err := p.Read(from, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			out = append(out, fmt.Sprintf("%d:%s", b.BaseOffset, b.Payload))
			from = b.BaseOffset + int64(b.Header.RecordCount)
		}
	}
	return out
}

// TestMoveReplicas moves a group from replicas {1, 2} to {2, 3} while
// records keep coming: 3 joins with an empty log and learns the group's
// configuration from the leader (its log from the start, or a snapshot
// once retention deleted the start), catches up as a learner, is promoted
// while 1 is removed in one joint change, and ends with every record at
// the same offset as the others.
func TestMoveReplicas(t *testing.T) {
	for _, compacted := range []bool{false, true} {
		t.Run(fmt.Sprintf("compacted=%v", compacted), func(t *testing.T) {
			replicas, _ := startCluster(t, 3)
			cfg := raftstore.PartitionConfig{Voters: []uint64{1, 2}, Campaign: true}
			if compacted {
				cfg.SegmentBytes, cfg.RetentionBytes = 4096, 8192
			}
			p1, err := replicas[0].store.OpenPartition("move-0", cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Campaign = false
			p2, err := replicas[1].store.OpenPartition("move-0", cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := newHistory(t, p1, p2)
			for i := range 100 {
				h.proposeAcked(fmt.Sprintf("%03d%s", i, strings.Repeat("x", 297)))
			}
			if compacted {
				waitUntil(t, "retention on the leader", func() bool { return p1.LogStartOffset() > 0 })
			}
			joinCfg := cfg
			joinCfg.Join = true
			p3, err := replicas[2].store.OpenPartition("move-0", joinCfg)
			if err != nil {
				t.Fatal(err)
			}
			if p3.Conf().Voters != nil {
				t.Fatalf("a joining replica starts with voters %v", p3.Conf().Voters)
			}

			leaderOf := func() *raftstore.Partition {
				if p1.Leader() == 1 {
					return p1
				}
				return p2
			}
			leaderOf().ChangeConf(raftpb.ConfChangeV2{Changes: []raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeAddLearnerNode, NodeID: 3}}})
			waitUntil(t, "3 added as a learner", func() bool { return slices.Equal(p3.Conf().Learners, []uint64{3}) })
			h.parts = append(h.parts, p3)
			h.proposeAcked("while learning")
			waitUntil(t, "the learner caught up", func() bool { return slices.Contains(leaderOf().CaughtUp(), 3) })

			leaderOf().ChangeConf(raftpb.ConfChangeV2{Changes: []raftpb.ConfChangeSingle{
				{Type: raftpb.ConfChangeAddNode, NodeID: 3},
				{Type: raftpb.ConfChangeRemoveNode, NodeID: 1},
			}})
			waitUntil(t, "voters {2, 3}", func() bool {
				cs := p2.Conf()
				return slices.Equal(cs.Voters, []uint64{2, 3}) && len(cs.VotersOutgoing) == 0 && slices.Equal(p3.Conf().Voters, []uint64{2, 3})
			})
			_, off := h.proposeAcked("after the move")
			waitUntil(t, "2 and 3 have the last record", func() bool { return p2.HighWatermark() == off+1 && p3.HighWatermark() == off+1 })
			start := max(p2.LogStartOffset(), p3.LogStartOffset())
			if got, want := readFrom(t, p3, start), readFrom(t, p2, start); !slices.Equal(got, want) || len(got) == 0 {
				t.Fatalf("from offset %d the new replica has %d records, the old %d", start, len(got), len(want))
			}
			if compacted && p3.LogStartOffset() == 0 {
				t.Fatal("the new replica's log starts at 0: it did not start from a snapshot")
			}
		})
	}
}

// TestInSyncNeedsTheLeadersLog proposes an entry the followers cannot
// receive (their gRPC servers keep the 4 MiB default, and the leader,
// replica 1, opened the streams to them): the high watermark stops, and
// the followers, which still hold every committed entry, must drop out of
// the in-sync replicas once the lag time passes.
func TestInSyncNeedsTheLeadersLog(t *testing.T) {
	replicas, _ := startClusterWith(t, 3, func(r *replica) { r.electionTicks, r.replicaLagTime = 500, 500*time.Millisecond })
	parts := openEverywhere(t, replicas, "wedged-0")
	newHistory(t, parts...).proposeAcked("small")
	if l := parts[0].Leader(); l != 1 {
		t.Fatalf("leader is %d, want 1 (it campaigned and elections take 10s)", l)
	}
	lp := parts[0]
	waitUntil(t, "all three in sync", func() bool { return slices.Equal(lp.InSync(), []uint64{1, 2, 3}) })
	hw := lp.HighWatermark()
	big := make([]byte, 5<<20)
	if _, err := lp.Submit(context.Background(), raftstore.BatchHeader{RecordCount: 1}, append(raftstore.NewBatch(len(big)), big...), raftstore.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "only the leader in sync", func() bool { return slices.Equal(lp.InSync(), []uint64{1}) })
	if got := lp.HighWatermark(); got != hw {
		t.Fatalf("high watermark moved from %d to %d: the followers received the entry", hw, got)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeadsCurrent: only the leader reports its high watermark as the
// group's, and a new leader only once it has applied an entry of its
// term; its predecessor stops at once.
func TestLeadsCurrent(t *testing.T) {
	replicas, _ := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "current-0")
	h := newHistory(t, parts...)
	h.proposeAcked("first")
	for _, p := range parts {
		h.check(p)
	}
	leader := agreedLeader(t, parts)
	waitUntil(t, "the leader current", func() bool { return parts[leader-1].LeadsCurrent() })
	for i, p := range parts {
		if uint64(i+1) != leader && p.LeadsCurrent() {
			t.Fatalf("follower %d says it leads current", i+1)
		}
	}
	to := leader%3 + 1
	parts[leader-1].TransferLeadership(to)
	waitUntil(t, "the new leader current", func() bool { return parts[to-1].LeadsCurrent() })
	if parts[leader-1].LeadsCurrent() {
		t.Fatal("the old leader still says it leads current")
	}
}

// agreedLeader waits until every replica in parts (nil: stopped) names the
// same leader, and returns it.
func agreedLeader(t *testing.T, parts []*raftstore.Partition) uint64 {
	t.Helper()
	var leader uint64
	waitUntil(t, "the replicas agree on a leader", func() bool {
		leader = 0
		for _, p := range parts {
			if p == nil {
				continue
			}
			switch l := p.Leader(); {
			case l == 0, leader != 0 && l != leader:
				return false
			default:
				leader = l
			}
		}
		return leader != 0
	})
	return leader
}

// currentLeader is agreedLeader once the leader has applied an entry of
// its term: only then does it check idempotent producers' batches.
func currentLeader(t *testing.T, parts []*raftstore.Partition) uint64 {
	t.Helper()
	leader := agreedLeader(t, parts)
	waitUntil(t, "the leader current", func() bool { return parts[leader-1].LeadsCurrent() })
	return leader
}

// TestLeaderTermFence: a batch fenced by a term is appended only by the
// leader of that term. The leader that hands its leadership away and gets
// it back leads in a later term, and refuses what was meant for its
// earlier reign: the request a follower forwarded to it before the
// changes, which would otherwise land after what the next leader appended.
func TestLeaderTermFence(t *testing.T) {
	replicas, _ := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "fence-0")
	h := newHistory(t, parts...)
	h.proposeAcked("first")
	leader := agreedLeader(t, parts)
	first := parts[leader-1].Leadership()
	for i, p := range parts {
		waitUntil(t, "every replica to know the leader's term", func() bool { return p.Leadership() == first })
		if uint64(i+1) != leader {
			if _, err := fenced(p, "to a follower", first.Term); !errors.Is(err, raftstore.ErrNotLeader) {
				t.Fatalf("a follower took a batch fenced to its leader's term: %v", err)
			}
		}
	}
	if _, err := fenced(parts[leader-1], "in term", first.Term); err != nil {
		t.Fatalf("the leader of term %d refused a batch fenced to it: %v", first.Term, err)
	}
	if _, err := fenced(parts[leader-1], "next term", first.Term+1); !errors.Is(err, raftstore.ErrNotLeader) {
		t.Fatalf("the leader of term %d took a batch fenced to term %d: %v", first.Term, first.Term+1, err)
	}

	// Away and back: the same leader, two terms on.
	other := leader%3 + 1
	parts[leader-1].TransferLeadership(other)
	waitUntil(t, "the transfer", func() bool { return agreedLeader(t, parts) == other })
	parts[other-1].TransferLeadership(leader)
	waitUntil(t, "the transfer back", func() bool { return agreedLeader(t, parts) == leader })
	again := parts[leader-1].Leadership()
	if again.Leader != leader || again.Term < first.Term+2 {
		t.Fatalf("leadership after two transfers %+v, want broker %d in a term past %d", again, leader, first.Term+1)
	}
	if _, err := fenced(parts[leader-1], "stale", first.Term); !errors.Is(err, raftstore.ErrNotLeader) ||
		!strings.Contains(err.Error(), fmt.Sprintf("term %d", first.Term)) {
		t.Fatalf("the leader took a batch fenced to its earlier reign: %v", err)
	}
	off, err := fenced(parts[leader-1], "current", again.Term)
	if err != nil {
		t.Fatalf("batch fenced to the current term: %v", err)
	}
	for _, p := range parts {
		waitUntil(t, "every replica to commit the last batch", func() bool { return p.HighWatermark() > off })
		if got, want := readFrom(t, p, 0), []string{"0:first", "1:in term", "2:current"}; !slices.Equal(got, want) {
			t.Fatalf("log %q, want %q: only the batches fenced to their leader's term", got, want)
		}
	}
}

// fenced submits a one-record batch fenced to term and waits for it.
func fenced(p *raftstore.Partition, payload string, term uint64) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := p.Submit(ctx, raftstore.BatchHeader{RecordCount: 1}, append(raftstore.NewBatch(len(payload)), payload...),
		raftstore.SubmitOptions{LeaderTerm: term})
	if err != nil {
		return 0, err
	}
	return pr.Wait(ctx)
}

// produceAs submits a one-record batch of an idempotent producer and
// waits for it.
func produceAs(p *raftstore.Partition, id int64, seq int64, payload string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := raftstore.BatchHeader{RecordCount: 1, ProducerID: id, BaseSequence: seq}
	pr, err := p.Submit(ctx, h, append(raftstore.NewBatch(len(payload)), payload...), raftstore.SubmitOptions{})
	if err != nil {
		return 0, err
	}
	return pr.Wait(ctx)
}

// TestIdempotentRetryAfterLeaderChange: the leader stops after
// acknowledging a batch, and after taking one whose outcome its producer
// never learns; the producer retries both on the new leader. Each is in
// the log once, the acknowledged one at its offset.
func TestIdempotentRetryAfterLeaderChange(t *testing.T) {
	replicas, _ := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "idem-0")
	leader := currentLeader(t, parts)
	acked, err := produceAs(parts[leader-1], 5, 0, "acked")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pr, err := parts[leader-1].Submit(ctx, raftstore.BatchHeader{RecordCount: 1, ProducerID: 5, BaseSequence: 1},
		append(raftstore.NewBatch(7), "unknown"...), raftstore.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replicas[leader-1].stop(t)
	pr.Wait(ctx) // its outcome: whatever it is, the producer retries

	var rest []*raftstore.Partition
	for i, p := range parts {
		if uint64(i+1) != leader {
			rest = append(rest, p)
		}
	}
	var next uint64
	waitUntil(t, "a new leader", func() bool {
		next = agreedLeader(t, rest)
		return next != leader
	})
	np := parts[next-1]
	var off int64
	waitUntil(t, "the new leader to take the retry", func() bool {
		off, err = produceAs(np, 5, 0, "acked")
		return err == nil
	})
	if off != acked {
		t.Fatalf("the retry of an acknowledged batch got offset %d on the new leader, want %d", off, acked)
	}
	if _, err := produceAs(np, 5, 1, "unknown"); err != nil {
		t.Fatalf("the retry of the batch of unknown outcome: %v", err)
	}
	if _, err := produceAs(np, 5, 1, "unknown"); err != nil {
		t.Fatalf("a second retry: %v", err)
	}
	for _, p := range rest {
		waitUntil(t, "the replicas to agree", func() bool { return p.HighWatermark() == np.HighWatermark() })
		if got, want := readFrom(t, p, 0), []string{"0:acked", "1:unknown"}; !slices.Equal(got, want) {
			t.Fatalf("log %q, want %q: each batch once", got, want)
		}
	}
}

// TestIdempotentFollowerBehindLogStart: a follower that missed entries
// retention then deleted gets the producers' state with the leader's
// snapshot; leading next, it recognizes retries of batches it never held.
func TestIdempotentFollowerBehindLogStart(t *testing.T) {
	replicas, peers := startCluster(t, 3)
	cfg := raftstore.PartitionConfig{Voters: []uint64{1, 2, 3}, SegmentBytes: 4096, RetentionBytes: 8192}
	var parts []*raftstore.Partition
	for _, r := range replicas {
		p, err := r.store.OpenPartition("idem-compacted-0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	leader := currentLeader(t, parts)
	lp := parts[leader-1]
	followerAt := leader%3 + 1
	follower := replicas[followerAt-1]
	if _, err := produceAs(lp, 1, 0, "first"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the follower to have the first batch", func() bool { return parts[followerAt-1].HighWatermark() == 1 })
	follower.stop(t)

	// Producer 2's batches are in the first segments; then producer 1's
	// fill the log until retention deletes them.
	early, err := produceAs(lp, 2, 0, "early"+strings.Repeat("x", 495))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := produceAs(lp, 1, int64(i+1), fmt.Sprintf("%03d%s", i, strings.Repeat("x", 497))); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "retention to delete producer 2's batch", func() bool { return lp.LogStartOffset() > early })

	follower.start(t, peers)
	p, err := follower.store.OpenPartition("idem-compacted-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the follower to catch up", func() bool { return p.HighWatermark() == lp.HighWatermark() })
	if p.LogStartOffset() <= early {
		t.Fatalf("the follower's log starts at %d: it did not need the snapshot", p.LogStartOffset())
	}
	parts[followerAt-1] = p
	lp.TransferLeadership(followerAt)
	waitUntil(t, "the follower to lead", func() bool { return agreedLeader(t, parts) == followerAt && p.LeadsCurrent() })
	hw := p.HighWatermark()
	if off, err := produceAs(p, 2, 0, "early"+strings.Repeat("x", 495)); err != nil || off != early {
		t.Fatalf("a retry of a batch the new leader never held: offset %d, %v; want %d", off, err, early)
	}
	if p.HighWatermark() != hw {
		t.Fatalf("the retry was appended: high watermark %d, was %d", p.HighWatermark(), hw)
	}
}
