package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	"github.com/runnel-broker/runnel/internal/redial"
	"github.com/runnel-broker/runnel/raftstore"
)

// Config configures a Transport. Zero values take defaults.
type Config struct {
	// NodeID is this broker's raft id.
	NodeID uint64
	// QueueSize bounds each peer's queue of messages (default 4096).
	QueueSize int
	// MaxBatch bounds the messages sent in one Batch (default 256).
	MaxBatch int
	// MaxBatchBytes closes a Batch once its messages hold this
	// many bytes (default and most DefaultMaxBatchBytes, 16 MiB), so that
	// a batch of large appends stays under MaxMessageBytes (limits.go).
	// A larger message goes alone.
	MaxBatchBytes int
	// RetryInterval is how long a peer's sender waits after a failed send
	// before reconnecting (default 100ms).
	RetryInterval time.Duration
	// Credentials secure the streams this transport opens to its peers
	// (nil: plaintext); the server's listener secures the ones it takes.
	Credentials credentials.TransportCredentials
	// PerRPCCredentials, when set, add their metadata to those streams
	// (the cluster's secret).
	PerRPCCredentials credentials.PerRPCCredentials
	// Authenticate, when set, says whether the caller of a stream that
	// names itself node from is that node (its certificate, say); its
	// error ends the stream.
	Authenticate func(ctx context.Context, from uint64) error
	Logger       *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = 4096
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.MaxBatchBytes <= 0 || c.MaxBatchBytes > DefaultMaxBatchBytes {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Transport sends and receives raft messages for every group of a broker.
type Transport struct {
	raftv1.UnimplementedRaftServiceServer
	cfg Config
	// inbound takes what is received (see Attach); nil until then.
	inbound atomic.Pointer[raftstore.Inbound]

	mu    sync.Mutex // guards peers, accepted and closed
	peers map[uint64]*peer
	// accepted are the live streams peers with lower ids opened, by
	// peer, oldest first: a peer added after its stream came in takes the
	// newest from here, and when the one it sends on ends, the newest
	// left. So a stream opened by someone claiming to be the peer
	// cannot, by ending, cut the peer off.
	accepted map[uint64][]acceptedStream
	closed   bool
	done     chan struct{} // closed by Close: receiving streams end

	reportMu      sync.Mutex           // guards reported and droppedLogged
	reported      map[uint64]time.Time // when each peer was last reported unreachable
	droppedLogged map[uint64]time.Time // when dropped messages were last logged, by peer
}

// A broker pair shares one bidirectional stream: the broker with the
// lower node id opens it (and opens it again when it breaks), the other
// takes it in through its RaftService, and both send on it.

// New returns a transport with no peers; Register it on the broker's gRPC
// server to receive, AddPeer to send.
func New(cfg Config) *Transport {
	return &Transport{cfg: cfg.withDefaults(), peers: make(map[uint64]*peer), accepted: make(map[uint64][]acceptedStream),
		done: make(chan struct{}), reported: make(map[uint64]time.Time), droppedLogged: make(map[uint64]time.Time)}
}

// Attach hands every message received from now on to in, on the receiving
// stream's goroutine (Step must not block), and reports to it the peers
// that messages could not be sent to. Until then, what is received is
// dropped, as raft lets any message be lost: the broker attaches its
// store once it is open.
func (t *Transport) Attach(in raftstore.Inbound) { t.inbound.Store(&in) }

// Register serves the transport's receiving side on s.
func (t *Transport) Register(s *grpc.Server) { raftv1.RegisterRaftServiceServer(s, t) }

// AddPeer starts sending to the broker id at address (host:port),
// replacing an earlier address for it.
func (t *Transport) AddPeer(id uint64, address string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errors.New("transport: closed")
	}
	if old, ok := t.peers[id]; ok {
		if old.address == address {
			return nil
		}
		old.stop()
	}
	p, err := t.newPeer(id, address)
	if err != nil {
		return err
	}
	t.peers[id] = p
	return nil
}

// RemovePeer stops sending to broker id.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

// Send queues raft messages of group for their destinations. It never
// blocks: messages to an unknown peer, or beyond a full queue, are dropped
// (and the peer reported unreachable).
func (t *Transport) Send(group string, msgs []raftpb.Message) {
	var failed []uint64
	t.mu.Lock()
	for _, m := range msgs {
		p, ok := t.peers[m.To]
		if !ok || !p.enqueue(outbound{group: group, msg: m}) {
			failed = append(failed, m.To)
		}
	}
	t.mu.Unlock()
	for _, peer := range failed {
		t.reportUnreachable(peer)
	}
}

// reportUnreachable reports peer to the attached Inbound at most once per
// RetryInterval: every message to a peer that is down fails, and each
// report reaches every raft group.
func (t *Transport) reportUnreachable(peer uint64) {
	in := t.inbound.Load()
	if in == nil {
		return
	}
	now := time.Now()
	t.reportMu.Lock()
	last, ok := t.reported[peer]
	recent := ok && now.Sub(last) < t.cfg.RetryInterval
	if !recent {
		t.reported[peer] = now
	}
	t.reportMu.Unlock()
	if !recent {
		(*in).ReportUnreachable(peer)
	}
}

// Close stops every sender and ends the streams being received, so that
// the server's graceful stop need not wait for the peers.
func (t *Transport) Close() {
	t.mu.Lock()
	if !t.closed {
		close(t.done)
	}
	t.closed = true
	peers := t.peers
	t.peers = map[uint64]*peer{}
	t.mu.Unlock()
	for _, p := range peers {
		p.stop()
	}
}

// Stream takes in the stream a peer with a lower node id opened (the
// RaftService RPC): it receives the peer's batches until the stream or
// the transport closes, and hands the stream to the peer's sender.
//
// The stream's first batch names the peer, and every message on it must
// come from that peer and be addressed to this broker: the rest are
// dropped. Only a broker with a lower id opens a pair's stream, so a
// stream naming a higher id (or this one) is refused.
func (t *Transport) Stream(srv raftv1.RaftService_StreamServer) error {
	stream := serverEnd{srv}
	first, err := stream.Recv()
	if err != nil {
		return nil
	}
	from := first.GetFrom()
	if from == 0 || from >= t.cfg.NodeID {
		return status.Errorf(codes.InvalidArgument,
			"transport: a stream from node %d: only brokers with ids below this one's, %d, open a stream to it", from, t.cfg.NodeID)
	}
	if t.cfg.Authenticate != nil {
		if err := t.cfg.Authenticate(srv.Context(), from); err != nil {
			return err
		}
	}
	ended := make(chan struct{})
	a := acceptedStream{stream: stream, ended: ended}
	t.mu.Lock()
	t.accepted[from] = append(t.accepted[from], a)
	p := t.peers[from]
	t.mu.Unlock()
	defer func() {
		close(ended)
		t.mu.Lock()
		left := slices.DeleteFunc(t.accepted[from], func(o acceptedStream) bool { return o.ended == a.ended })
		if len(left) == 0 {
			delete(t.accepted, from)
		} else {
			t.accepted[from] = left
		}
		p := t.peers[from]
		t.mu.Unlock()
		if p != nil && len(left) > 0 {
			// NB: the peer's sender may have been sending on this one.
			p.accept(left[len(left)-1])
		}
	}()
	if p != nil {
		p.accept(a)
	}
	received := make(chan error, 1)
	go func() {
		if err := t.handle(from, first); err != nil {
			received <- err
			return
		}
		received <- t.receive(from, stream)
	}()
	select {
	case err := <-received:
		return err
	case <-t.done:
		// NB: returning ends the stream, and with it the pending Recv.
		return nil
	}
}

// batchStream is either end of a pair's stream.
type batchStream interface {
	Send(*raftv1.Batch) error
	Recv() (*raftv1.Batch, error)
}

// clientEnd is the opener's end of a pair's stream.
type clientEnd struct {
	raftv1.RaftService_StreamClient
}

func (c clientEnd) Send(b *raftv1.Batch) error {
	return c.RaftService_StreamClient.Send(&raftv1.StreamRequest{Batch: b})
}

func (c clientEnd) Recv() (*raftv1.Batch, error) {
	resp, err := c.RaftService_StreamClient.Recv()
	if err != nil {
		return nil, err
	}
	return resp.GetBatch(), nil
}

// serverEnd is the other end.
type serverEnd struct {
	raftv1.RaftService_StreamServer
}

func (s serverEnd) Send(b *raftv1.Batch) error {
	return s.RaftService_StreamServer.Send(&raftv1.StreamResponse{Batch: b})
}

func (s serverEnd) Recv() (*raftv1.Batch, error) {
	req, err := s.RaftService_StreamServer.Recv()
	if err != nil {
		return nil, err
	}
	return req.GetBatch(), nil
}

// receive hands every message of the stream's batches, from peer, to the
// attached Inbound until the stream ends.
func (t *Transport) receive(peer uint64, stream batchStream) error {
	for {
		b, err := stream.Recv()
		if err != nil {
			return nil
		}
		if err := t.handle(peer, b); err != nil {
			return err
		}
	}
}

// handle hands a batch's messages to the attached Inbound: those from
// peer to this broker. A batch from anyone else, or one that does not decode, ends
// the stream.
func (t *Transport) handle(peer uint64, b *raftv1.Batch) error {
	if b.GetFrom() != peer {
		return status.Errorf(codes.InvalidArgument, "transport: a batch from node %d on the stream of node %d", b.GetFrom(), peer)
	}
	for _, e := range b.GetEnvelopes() {
		var m raftpb.Message
		if err := m.Unmarshal(e.Message); err != nil {
			return status.Errorf(codes.InvalidArgument, "transport: message from %d for %s: %v", peer, e.Group, err)
		}
		if m.From != peer || m.To != t.cfg.NodeID {
			t.dropped(peer, m)
			continue
		}
		select {
		case <-t.done:
			return nil
		default:
		}
		if in := t.inbound.Load(); in != nil {
			(*in).Step(e.Group, m)
		}
	}
	return nil
}

// dropped logs a message whose sender or addressee is not the stream's,
// at most once per dropLogInterval per peer.
func (t *Transport) dropped(peer uint64, m raftpb.Message) {
	now := time.Now()
	t.reportMu.Lock()
	last, ok := t.droppedLogged[peer]
	log := !ok || now.Sub(last) >= dropLogInterval
	if log {
		t.droppedLogged[peer] = now
	}
	t.reportMu.Unlock()
	if log {
		t.cfg.Logger.Warn("transport: dropped a message not from the stream's peer to this broker",
			"peer", peer, "from", m.From, "to", m.To, "type", m.Type.String())
	}
}

// dropLogInterval bounds how often dropped messages are logged.
const dropLogInterval = 10 * time.Second

type outbound struct {
	group string
	msg   raftpb.Message
}

// peer is the sending side towards one broker: a queue and the goroutine
// that drains it into the pair's stream.
type peer struct {
	t       *Transport
	cfg     Config
	id      uint64
	address string
	// opens says this side opens the pair's stream (its id is the lower);
	// else the peer does, and accepted hands it over.
	opens    bool
	conn     *grpc.ClientConn // when opens
	accepted chan acceptedStream
	queue    chan outbound
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
}

// acceptedStream is a stream the peer opened, usable until ended.
type acceptedStream struct {
	stream batchStream
	ended  <-chan struct{}
}

func (t *Transport) newPeer(id uint64, address string) (*peer, error) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{t: t, cfg: t.cfg, id: id, address: address, opens: t.cfg.NodeID < id,
		accepted: make(chan acceptedStream, 1), queue: make(chan outbound, t.cfg.QueueSize),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	if p.opens {
		// NB: the peer sends on this stream too: without the limit, the
		// client's 4 MiB default would refuse its batches of large entries.
		creds := p.cfg.Credentials
		if creds == nil {
			creds = insecure.NewCredentials()
		}
		opts := []grpc.DialOption{grpc.WithTransportCredentials(creds), redial.Option(),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))}
		if p.cfg.PerRPCCredentials != nil {
			opts = append(opts, grpc.WithPerRPCCredentials(p.cfg.PerRPCCredentials))
		}
		conn, err := grpc.NewClient(address, opts...)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("transport: peer %d at %s: %w", id, address, err)
		}
		p.conn = conn
	} else if live := t.accepted[id]; len(live) > 0 {
		// NB: t.mu is held (AddPeer).
		p.accepted <- live[len(live)-1]
	}
	go p.run()
	return p, nil
}

// enqueue adds a message without blocking; false when the queue is full.
func (p *peer) enqueue(o outbound) bool {
	select {
	case p.queue <- o:
		return true
	default:
		return false
	}
}

// accept hands the peer a stream it opened, replacing an older one.
func (p *peer) accept(a acceptedStream) {
	for {
		select {
		case p.accepted <- a:
			return
		default:
		}
		select {
		case <-p.accepted: // drop the older one not taken yet
		default:
		}
	}
}

func (p *peer) stop() {
	p.cancel()
	<-p.done
	if p.conn != nil {
		p.conn.Close()
	}
}

// run keeps the pair's stream (opening it, or waiting for the peer to)
// and sends what is queued on it, batched by count and bytes. A failed
// send drops its batch, reports the peer unreachable and waits for the
// next stream.
func (p *peer) run() {
	defer close(p.done)
	for {
		stream, ended, ok := p.stream()
		if !ok {
			return
		}
		if err := p.sendOn(stream, ended); err != nil {
			if p.ctx.Err() != nil {
				return
			}
			p.cfg.Logger.Debug("transport: stream to peer ended", "peer", p.id, "err", err)
			p.t.reportUnreachable(p.id)
		}
	}
}

// stream returns the next stream to send on, and a channel closed when
// it ended; false once the peer stops.
func (p *peer) stream() (batchStream, <-chan struct{}, bool) {
	if !p.opens {
		select {
		case a := <-p.accepted:
			return a.stream, a.ended, true
		case <-p.ctx.Done():
			return nil, nil, false
		}
	}
	for {
		stream, ended, err := p.open()
		if err == nil {
			return stream, ended, true
		}
		p.cfg.Logger.Debug("transport: open stream", "peer", p.id, "err", err)
		p.t.reportUnreachable(p.id)
		select {
		case <-time.After(p.cfg.RetryInterval):
		case <-p.ctx.Done():
			return nil, nil, false
		}
	}
}

// open opens the pair's stream, names this broker on it, and receives the
// peer's batches on it until it ends.
func (p *peer) open() (batchStream, <-chan struct{}, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	cs, err := raftv1.NewRaftServiceClient(p.conn).Stream(ctx)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	stream := clientEnd{cs}
	if err := stream.Send(&raftv1.Batch{From: p.cfg.NodeID}); err != nil {
		cancel()
		return nil, nil, err
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer cancel()
		if err := p.t.receive(p.id, stream); err != nil {
			p.cfg.Logger.Warn("transport: bad batch from peer", "peer", p.id, "err", err)
		}
	}()
	return stream, ended, nil
}

// sendOn sends queued messages on stream until it fails or ends.
func (p *peer) sendOn(stream batchStream, ended <-chan struct{}) error {
	for {
		var first outbound
		select {
		case first = <-p.queue:
		case <-ended:
			return errors.New("the stream ended")
		case a := <-p.accepted:
			// The peer opened a new stream: the old one is broken.
			stream, ended = a.stream, a.ended
			continue
		case <-p.ctx.Done():
			if c, ok := stream.(clientEnd); ok {
				_ = c.CloseSend()
			}
			return p.ctx.Err()
		}
		if err := stream.Send(p.batch(first)); err != nil {
			return err
		}
	}
}

// batch builds a batch from first and what else is queued, closed once
// it holds MaxBatch messages or MaxBatchBytes.
func (p *peer) batch(first outbound) *raftv1.Batch {
	b := &raftv1.Batch{From: p.cfg.NodeID}
	size := 0
	add := func(o outbound) {
		data, err := o.msg.Marshal()
		if err != nil {
			p.cfg.Logger.Error("transport: marshal raft message", "group", o.group, "err", err)
			return
		}
		b.Envelopes = append(b.Envelopes, &raftv1.Envelope{Group: o.group, Message: data})
		size += len(data) + len(o.group)
	}
	add(first)
	for len(b.Envelopes) < p.cfg.MaxBatch && size < p.cfg.MaxBatchBytes {
		select {
		case o := <-p.queue:
			add(o)
		default:
			return b
		}
	}
	return b
}
