package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
)

// Config configures a Transport. Zero values take defaults.
type Config struct {
	// NodeID is this broker's raft id.
	NodeID uint64
	// Handle is called with every message received, on the receiving
	// stream's goroutine: it should hand the message to the group's raft
	// loop and return.
	Handle func(group string, m raftpb.Message)
	// Unreachable is called when messages to a peer could not be sent
	// (optional); the caller reports it to the peer's raft groups.
	Unreachable func(peer uint64)
	// QueueSize bounds each peer's queue of messages (default 4096).
	QueueSize int
	// MaxBatch bounds the messages sent in one StreamRequest (default 256).
	MaxBatch int
	// MaxBatchBytes closes a StreamRequest once its messages hold this
	// many bytes (default 16 MiB), so that a batch of large appends stays
	// well under the receiving server's message limit. A larger message
	// goes alone.
	MaxBatchBytes int
	// RetryInterval is how long a peer's sender waits after a failed send
	// before reconnecting (default 100ms).
	RetryInterval time.Duration
	Logger        *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = 4096
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 16 << 20
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

	mu     sync.Mutex // guards peers and closed
	peers  map[uint64]*peer
	closed bool
	done   chan struct{} // closed by Close: receiving streams end

	reportMu sync.Mutex           // guards reported
	reported map[uint64]time.Time // when each peer was last reported unreachable
}

// New returns a transport with no peers; Register it on the broker's gRPC
// server to receive, AddPeer to send.
func New(cfg Config) *Transport {
	return &Transport{cfg: cfg.withDefaults(), peers: make(map[uint64]*peer), done: make(chan struct{}),
		reported: make(map[uint64]time.Time)}
}

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
	p, err := newPeer(t.cfg, id, address, t.reportUnreachable)
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

// reportUnreachable calls Config.Unreachable for peer at most once per
// RetryInterval: every message to a peer that is down fails, and each
// report reaches every raft group.
func (t *Transport) reportUnreachable(peer uint64) {
	if t.cfg.Unreachable == nil {
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
		t.cfg.Unreachable(peer)
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

// Stream receives one peer's batches (the RaftService RPC) until the peer
// closes it or the transport closes.
func (t *Transport) Stream(stream raftv1.RaftService_StreamServer) error {
	received := make(chan error, 1)
	go func() { received <- t.receive(stream) }()
	select {
	case err := <-received:
		return err
	case <-t.done:
		// NB: returning ends the stream, and with it the pending Recv.
		return nil
	}
}

func (t *Transport) receive(stream raftv1.RaftService_StreamServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return stream.SendAndClose(&raftv1.StreamResponse{})
		}
		for _, e := range req.Envelopes {
			var m raftpb.Message
			if err := m.Unmarshal(e.Message); err != nil {
				return fmt.Errorf("transport: message from %d for %s: %w", req.From, e.Group, err)
			}
			select {
			case <-t.done:
				return nil
			default:
				t.cfg.Handle(e.Group, m)
			}
		}
	}
}

type outbound struct {
	group string
	msg   raftpb.Message
}

// peer is the sending side towards one broker: a queue and the goroutine
// that drains it into a stream.
type peer struct {
	cfg         Config
	id          uint64
	address     string
	conn        *grpc.ClientConn
	queue       chan outbound
	unreachable func(peer uint64)
	ctx         context.Context
	cancel      context.CancelFunc
	done        chan struct{}
}

func newPeer(cfg Config, id uint64, address string, unreachable func(uint64)) (*peer, error) {
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("transport: peer %d at %s: %w", id, address, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{cfg: cfg, id: id, address: address, conn: conn, queue: make(chan outbound, cfg.QueueSize),
		unreachable: unreachable, ctx: ctx, cancel: cancel, done: make(chan struct{})}
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

func (p *peer) stop() {
	p.cancel()
	<-p.done
	p.conn.Close()
}

// run keeps a stream to the peer open and sends what is queued, batched
// by count and bytes.
// A failed send drops its batch, reports the peer unreachable and
// reconnects after RetryInterval.
func (p *peer) run() {
	defer close(p.done)
	var stream raftv1.RaftService_StreamClient
	for {
		var first outbound
		select {
		case first = <-p.queue:
		case <-p.ctx.Done():
			if stream != nil {
				_, _ = stream.CloseAndRecv()
			}
			return
		}
		req := &raftv1.StreamRequest{From: p.cfg.NodeID}
		size := 0
		add := func(o outbound) {
			b, err := o.msg.Marshal()
			if err != nil {
				p.cfg.Logger.Error("transport: marshal raft message", "group", o.group, "err", err)
				return
			}
			req.Envelopes = append(req.Envelopes, &raftv1.Envelope{Group: o.group, Message: b})
			size += len(b) + len(o.group)
		}
		add(first)
	drain:
		for len(req.Envelopes) < p.cfg.MaxBatch && size < p.cfg.MaxBatchBytes {
			select {
			case o := <-p.queue:
				add(o)
			default:
				break drain
			}
		}
		var err error
		if stream == nil {
			stream, err = raftv1.NewRaftServiceClient(p.conn).Stream(p.ctx)
		}
		if err == nil {
			err = stream.Send(req)
		}
		if err != nil {
			stream = nil
			if p.ctx.Err() != nil {
				return
			}
			p.cfg.Logger.Debug("transport: send failed", "peer", p.id, "err", err)
			p.unreachable(p.id)
			select {
			case <-time.After(p.cfg.RetryInterval):
			case <-p.ctx.Done():
				return
			}
		}
	}
}
