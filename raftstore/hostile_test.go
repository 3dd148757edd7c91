package raftstore_test

import (
	"context"
	"fmt"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	"github.com/runnel-broker/runnel/raftstore"
)

// forger sends raft messages to a replica over its transport's port, as
// any client that reaches the port can, claiming to be node from.
type forger struct {
	t      *testing.T
	from   uint64
	stream raftv1.RaftService_StreamClient
}

func newForger(t *testing.T, to *replica, from uint64) *forger {
	t.Helper()
	conn, err := grpc.NewClient(to.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := raftv1.NewRaftServiceClient(conn).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &forger{t: t, from: from, stream: s}
}

func (f *forger) send(group string, msgs ...raftpb.Message) {
	f.t.Helper()
	b := &raftv1.Batch{From: f.from}
	for _, m := range msgs {
		m.From = f.from
		data, err := m.Marshal()
		if err != nil {
			f.t.Fatal(err)
		}
		b.Envelopes = append(b.Envelopes, &raftv1.Envelope{Group: group, Message: data})
	}
	if err := f.stream.Send(&raftv1.StreamRequest{Batch: b}); err != nil {
		f.t.Fatal(err)
	}
}

// close ends the stream and waits until the replica's transport has
// handed on everything sent on it.
func (f *forger) close() {
	f.t.Helper()
	if err := f.stream.CloseSend(); err != nil {
		f.t.Fatal(err)
	}
	for {
		if _, err := f.stream.Recv(); err != nil {
			return
		}
	}
}

// TestForgedRaftMessages sends a leader and a follower every kind of raft
// message that made raft panic or stopped a partition before the broker
// checked what it steps (issue 9): both stay up, the group keeps
// committing on all three replicas, and nothing foreign is in any log.
func TestForgedRaftMessages(t *testing.T) {
	replicas, _ := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "target-0")
	h := newHistory(t, parts...)
	h.proposeAcked("before")

	// Node 3 leads, so that node 1 (lower, as a stream's opener must be)
	// can be claimed towards it, and towards the follower 2.
	parts[parts[0].Leader()-1].TransferLeadership(3)
	waitUntil(t, "node 3 leads", func() bool {
		return parts[0].Leader() == 3 && parts[1].Leader() == 3 && parts[2].Leader() == 3
	})
	h.proposeAcked("led by 3")
	const huge = 1 << 40
	garbage := []byte("not a batch, not a snapshot")
	batch := append(raftstore.NewBatch(4), "fake"...)

	toLeader := newForger(t, replicas[2], 1)
	toLeader.send("target-0",
		raftpb.Message{Type: raftpb.MsgProp, To: 3},                                                                         // raft panics: empty MsgProp
		raftpb.Message{Type: raftpb.MsgProp, To: 3, Entries: []raftpb.Entry{{Data: garbage}}},                               // stopped the partition when applied
		raftpb.Message{Type: raftpb.MsgProp, To: 3, Entries: []raftpb.Entry{{Data: batch}}},                                 // a follower never forwards
		raftpb.Message{Type: raftpb.MsgProp, To: 3, Entries: []raftpb.Entry{{Type: raftpb.EntryConfChange, Data: garbage}}}, // raft panics decoding it
		raftpb.Message{Type: raftpb.MsgReadIndex, To: 3},                                                                    // raft panics: no request context
		raftpb.Message{Type: raftpb.MsgAppResp, To: 3, Term: 0, Index: huge},                                                // progress past the log
		raftpb.Message{Type: raftpb.MsgStorageAppendResp, To: 3, Index: huge},                                               // a local message
		raftpb.Message{Type: raftpb.MsgVote, To: 3, Term: 1 << 62, Index: huge, LogTerm: 1 << 62},                           // a term near overflow
		raftpb.Message{Type: raftpb.MsgHup, To: 3},                                                                          // a local message
	)
	// Every message above is dropped before raft sees it, so the real
	// node 1 is still in the group: its term is needed for the follower's.
	toFollower := newForger(t, replicas[1], 1)
	for _, term := range []uint64{1, 2, 3, 4, 5, 6, 7, 8} {
		toFollower.send("target-0",
			raftpb.Message{Type: raftpb.MsgHeartbeat, To: 2, Term: term, Commit: huge}, // raft panics: commit past the log
			raftpb.Message{Type: raftpb.MsgApp, To: 2, Term: term, Index: 1, LogTerm: 1, // a gap after index 1
				Entries: []raftpb.Entry{{Index: 5, Term: term, Data: batch}}},
			raftpb.Message{Type: raftpb.MsgApp, To: 2, Term: term, Index: 1, LogTerm: 1, // an entry that is no batch
				Entries: []raftpb.Entry{{Index: 2, Term: term, Data: garbage}}},
			raftpb.Message{Type: raftpb.MsgSnap, To: 2, Term: term, Snapshot: &raftpb.Snapshot{ // stopped the partition
				Data: garbage, Metadata: raftpb.SnapshotMetadata{Index: huge, Term: term, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}},
			raftpb.Message{Type: raftpb.MsgTimeoutNow, To: 2, Term: term}, // only the leader may
			raftpb.Message{Type: raftpb.MsgReadIndexResp, To: 2, Term: term, Index: huge},
		)
	}
	// NB: a forged stream held open diverts what the replica sends the
	// peer it claims to be: only authenticating peers (mTLS) prevents
	// that. Once it ends, the real peer's stream takes over again.
	toLeader.close()
	toFollower.close()
	// NB: a raft loop takes its messages in order: once later proposals
	// are committed everywhere, every forged one was stepped or dropped.
	for i := range 20 {
		h.propose(fmt.Sprintf("after-%d", i))
	}
	for _, p := range parts {
		h.check(p)
	}
}
