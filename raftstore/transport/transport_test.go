package transport

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
)

// node is a transport with a gRPC server on 127.0.0.1:0 recording what it
// receives.
type node struct {
	t      *Transport
	server *grpc.Server
	addr   string

	mu          sync.Mutex // guards got, unreachable
	got         []received
	unreachable map[uint64]int
}

type received struct {
	group string
	msg   raftpb.Message
}

func startNode(t *testing.T, id uint64) *node {
	t.Helper()
	n := &node{unreachable: map[uint64]int{}}
	n.t = New(Config{
		NodeID:        id,
		RetryInterval: 10 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	n.t.Attach(n)
	n.listen(t)
	t.Cleanup(func() { n.t.Close(); n.server.Stop() })
	return n
}

func (n *node) listen(t *testing.T) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.server = grpc.NewServer(grpc.MaxRecvMsgSize(MaxMessageBytes))
	n.t.Register(n.server)
	n.addr = lis.Addr().String()
	go n.server.Serve(lis)
}

// Step and ReportUnreachable make a node the transport's raftstore.Inbound.
func (n *node) Step(g string, m raftpb.Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, received{g, m})
}

func (n *node) ReportUnreachable(p uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.unreachable[p]++
}

func (n *node) received() []received {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]received(nil), n.got...)
}

func (n *node) unreachableCount(peer uint64) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.unreachable[peer]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func msg(from, to, index uint64) raftpb.Message {
	return raftpb.Message{Type: raftpb.MsgApp, From: from, To: to, Term: 3, Index: index,
		Entries: []raftpb.Entry{{Index: index + 1, Term: 3, Data: []byte("payload")}}}
}

// TestMessagesArriveInOrderPerGroup sends many messages of two groups and
// checks each arrives once, intact, in order.
func TestMessagesArriveInOrderPerGroup(t *testing.T) {
	a, b := startNode(t, 1), startNode(t, 2)
	if err := a.t.AddPeer(2, b.addr); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range uint64(n) {
		a.t.Send("orders-0", []raftpb.Message{msg(1, 2, i)})
		a.t.Send("orders-1", []raftpb.Message{msg(1, 2, 10_000+i)})
	}
	waitFor(t, "all messages", func() bool { return len(b.received()) == 2*n })
	next := map[string]uint64{"orders-0": 0, "orders-1": 10_000}
	for _, r := range b.received() {
		if r.msg.Index != next[r.group] || r.msg.From != 1 || r.msg.To != 2 || string(r.msg.Entries[0].Data) != "payload" {
			t.Fatalf("group %s: got %+v, want index %d", r.group, r.msg, next[r.group])
		}
		next[r.group]++
	}
	if got := a.unreachableCount(2); got != 0 {
		t.Fatalf("peer reported unreachable %d times while up", got)
	}
}

// TestLargestEntryBothWays sends an entry of MaxEntryBytes behind a
// Batch's worth of smaller messages each way: the broker that opened the
// stream receives on its client end, whose limit must be raised as the
// server's is.
func TestLargestEntryBothWays(t *testing.T) {
	a, b := startNode(t, 1), startNode(t, 2)
	if err := a.t.AddPeer(2, b.addr); err != nil {
		t.Fatal(err)
	}
	if err := b.t.AddPeer(1, a.addr); err != nil {
		t.Fatal(err)
	}
	filler := make([]byte, 1<<20)
	big := make([]byte, MaxEntryBytes)
	for _, dir := range []struct {
		from *node
		to   *node
		f, d uint64
	}{{a, b, 1, 2}, {b, a, 2, 1}} {
		var msgs []raftpb.Message
		for i := range uint64(DefaultMaxBatchBytes / len(filler)) {
			msgs = append(msgs, raftpb.Message{Type: raftpb.MsgApp, From: dir.f, To: dir.d, Index: i,
				Entries: []raftpb.Entry{{Index: i + 1, Data: filler}}})
		}
		msgs = append(msgs, raftpb.Message{Type: raftpb.MsgApp, From: dir.f, To: dir.d, Index: uint64(len(msgs)),
			Entries: []raftpb.Entry{{Index: uint64(len(msgs)) + 1, Data: big}}})
		dir.from.t.Send("g", msgs)
		want := len(msgs)
		waitFor(t, fmt.Sprintf("%d messages from %d to %d", want, dir.f, dir.d), func() bool { return len(dir.to.received()) == want })
		if got := dir.to.received()[want-1].msg.Entries[0].Data; len(got) != MaxEntryBytes {
			t.Fatalf("largest entry arrived with %d bytes, want %d", len(got), MaxEntryBytes)
		}
		if got := dir.from.unreachableCount(dir.d); got != 0 {
			t.Fatalf("peer %d reported unreachable %d times", dir.d, got)
		}
	}
}

// TestPeerDownAndBack reports an unreachable peer, drops its messages, and
// delivers again once it is back (at a new address).
func TestPeerDownAndBack(t *testing.T) {
	a, b := startNode(t, 1), startNode(t, 2)
	if err := a.t.AddPeer(2, b.addr); err != nil {
		t.Fatal(err)
	}
	a.t.Send("g", []raftpb.Message{msg(1, 2, 1)})
	waitFor(t, "first message", func() bool { return len(b.received()) == 1 })

	b.server.Stop()
	waitFor(t, "the peer to be reported unreachable", func() bool {
		a.t.Send("g", []raftpb.Message{msg(1, 2, 2)})
		return a.unreachableCount(2) > 0
	})

	b.listen(t)
	if err := a.t.AddPeer(2, b.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after the peer is back", func() bool {
		a.t.Send("g", []raftpb.Message{msg(1, 2, 99)})
		for _, r := range b.received() {
			if r.msg.Index == 99 {
				return true
			}
		}
		return false
	})
}

// TestUnknownPeerIsUnreachable checks messages to a peer never added are
// dropped and reported, not queued forever.
func TestUnknownPeerIsUnreachable(t *testing.T) {
	a := startNode(t, 1)
	a.t.Send("g", []raftpb.Message{msg(1, 7, 1)})
	if got := a.unreachableCount(7); got != 1 {
		t.Fatalf("unknown peer reported %d times, want 1", got)
	}
}

// TestLargeMessagesBatchedByBytes queues more large messages at once than
// one gRPC message may hold: each batch must close by size, not count, or
// the receiver rejects it and the messages are lost.
func TestLargeMessagesBatchedByBytes(t *testing.T) {
	a, b := startNode(t, 1), startNode(t, 2)
	a.t.cfg.MaxBatchBytes = 2 << 20 // the test server takes 4 MiB messages
	if err := a.t.AddPeer(2, b.addr); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	var msgs []raftpb.Message
	for i := range uint64(20) {
		m := msg(1, 2, i)
		m.Entries[0].Data = big
		msgs = append(msgs, m)
	}
	a.t.Send("g", msgs)
	waitFor(t, "20 messages of 1 MiB", func() bool { return len(b.received()) == len(msgs) })
	if got := a.unreachableCount(2); got != 0 {
		t.Fatalf("peer reported unreachable %d times while up", got)
	}
}

// TestUnreachableReportsRateLimited sends many messages to a peer that is
// not there: raft groups hear of it once per retry interval, not once per
// message.
func TestUnreachableReportsRateLimited(t *testing.T) {
	a := startNode(t, 1)
	a.t.cfg.RetryInterval = time.Hour
	for i := range uint64(100) {
		a.t.Send("g", []raftpb.Message{msg(1, 7, i), msg(1, 7, i+1)})
	}
	if got := a.unreachableCount(7); got != 1 {
		t.Fatalf("unknown peer reported %d times in one retry interval, want 1", got)
	}
}

// TestBothWaysOnOneStream has the broker with the higher id send to the
// lower one: it may only send on the stream the lower one opened, which
// that one opens without waiting for anything to send.
func TestBothWaysOnOneStream(t *testing.T) {
	a, b := startNode(t, 1), startNode(t, 2)
	if err := b.t.AddPeer(1, a.addr); err != nil {
		t.Fatal(err)
	}
	if err := a.t.AddPeer(2, b.addr); err != nil {
		t.Fatal(err)
	}
	for i := range uint64(100) {
		b.t.Send("g", []raftpb.Message{msg(2, 1, i)})
	}
	a.t.Send("g", []raftpb.Message{msg(1, 2, 7)})
	waitFor(t, "messages from the higher id", func() bool { return len(a.received()) == 100 })
	waitFor(t, "the message from the lower id", func() bool { return len(b.received()) == 1 })
	for i, r := range a.received() {
		if r.msg.Index != uint64(i) || r.msg.From != 2 {
			t.Fatalf("message %d from the higher id: %+v", i, r.msg)
		}
	}

	// The lower id restarts (at a new address): it opens the stream
	// again, and the higher id sends on the new one.
	a.t.Close()
	a.server.Stop()
	a.t = New(a.t.cfg)
	a.t.Attach(a)
	a.listen(t)
	if err := a.t.AddPeer(2, b.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a message on the reopened stream", func() bool {
		b.t.Send("g", []raftpb.Message{msg(2, 1, 1000)})
		for _, r := range a.received() {
			if r.msg.Index == 1000 {
				return true
			}
		}
		return false
	})
}

// rawStream opens a RaftService stream to n as a client claiming to be
// node from, without a Transport of its own.
func rawStream(t *testing.T, n *node, from uint64) raftv1.RaftService_StreamClient {
	t.Helper()
	conn, err := grpc.NewClient(n.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// NB: a deadline, so that a Recv that never gets an answer fails.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	s, err := raftv1.NewRaftServiceClient(conn).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sendBatch(t *testing.T, s raftv1.RaftService_StreamClient, from uint64, msgs ...raftpb.Message) {
	t.Helper()
	b := &raftv1.Batch{From: from}
	for _, m := range msgs {
		data, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b.Envelopes = append(b.Envelopes, &raftv1.Envelope{Group: "g", Message: data})
	}
	if err := s.Send(&raftv1.StreamRequest{Batch: b}); err != nil {
		t.Fatal(err)
	}
}

// TestForgedStreams: a stream is refused when it names a broker that
// would never open it (a higher id, this one, none), a message on a
// stream from another sender or to another broker is dropped, a batch
// naming another sender or bytes that are no message end the stream,
// and a second stream claiming a peer's id cannot, by ending, cut the
// real peer off.
func TestForgedStreams(t *testing.T) {
	n := startNode(t, 3)
	for _, from := range []uint64{0, 3, 4} {
		s := rawStream(t, n, from)
		sendBatch(t, s, from)
		if _, err := s.Recv(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("a stream from node %d: %v, want InvalidArgument", from, err)
		}
	}

	if err := n.t.AddPeer(1, "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	real := rawStream(t, n, 1)
	sendBatch(t, real, 1, msg(2, 3, 1), msg(1, 4, 2), msg(1, 3, 3))
	waitFor(t, "the message from 1 to 3", func() bool { return len(n.received()) == 1 })
	if got := n.received()[0].msg; got.From != 1 || got.To != 3 || got.Index != 3 {
		t.Fatalf("handled %v; only the message from the stream's peer to this broker should be", got)
	}

	bad := rawStream(t, n, 1)
	sendBatch(t, bad, 1)
	sendBatch(t, bad, 2, msg(2, 3, 4))
	if _, err := bad.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a batch naming another sender: %v, want InvalidArgument", err)
	}
	garbage := rawStream(t, n, 1)
	if err := garbage.Send(&raftv1.StreamRequest{Batch: &raftv1.Batch{From: 1, Envelopes: []*raftv1.Envelope{{Group: "g", Message: []byte{0xff, 0xff, 0xff}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := garbage.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a message that does not decode: %v, want InvalidArgument", err)
	}

	// Node 3 sent to 1 on the newest stream claiming to be 1's; once
	// the forged ones ended, on the real one again.
	n.t.Send("g", []raftpb.Message{msg(3, 1, 5)})
	b, err := real.Recv()
	if err != nil || len(b.GetBatch().GetEnvelopes()) != 1 {
		t.Fatalf("the real peer's stream after forged ones ended: %v, %v", b, err)
	}
	if len(n.received()) != 1 {
		t.Fatalf("handled %d messages, want 1", len(n.received()))
	}
}
