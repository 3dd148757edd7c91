package server

import (
	"context"
	"fmt"
	"sync"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// forwardedHeader marks a call one broker forwards to another: the
// receiver serves it itself or fails, never forwards it again.
const forwardedHeader = "runnel-forwarded"

// forwardedCall reports whether the call was forwarded by another broker:
// it came in on the peer listener with the header. A client setting the
// header gets nothing from it.
func forwardedCall(ctx context.Context) bool {
	if ctx.Value(peerListenerKey{}) == nil {
		return false
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(forwardedHeader)) > 0
}

// peerListenerKey marks the context of a call that came in on the peer
// listener (see Server.newGRPCServer).
type peerListenerKey struct{}

func markPeerUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(context.WithValue(ctx, peerListenerKey{}, true), req)
}

func markPeerStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	w := middleware.WrapServerStream(ss)
	w.WrappedContext = context.WithValue(ss.Context(), peerListenerKey{}, true)
	return handler(srv, w)
}

// brokerContext is the broker's view of a call's context: a forwarded
// call is marked so that the broker does not forward it again.
func brokerContext(ctx context.Context) context.Context {
	if forwardedCall(ctx) {
		return broker.Forwarded(ctx)
	}
	return ctx
}

// forwardingContext is the context of a call to another broker.
func forwardingContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, forwardedHeader, "1")
}

// peers holds this broker's client connections to the others, dialed on
// first use, and one multiplexed Produce stream to each: the forwarding
// side of "clients may talk to any broker". It implements
// broker.Forwarder.
type peers struct {
	mu    sync.Mutex // guards conns, links, closed
	conns map[string]*grpc.ClientConn
	links map[string]*produceLink
}

func newPeers() *peers {
	return &peers{conns: map[string]*grpc.ClientConn{}, links: map[string]*produceLink{}}
}

// conn returns the connection to the broker at address.
func (p *peers) conn(address string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[address]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// NB: the server's codec, so that records and stored batches pass
		// through as the bytes they are (codec.go).
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(newCodec()),
			grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)))
	if err != nil {
		return nil, err
	}
	p.conns[address] = c
	return c, nil
}

// Produce implements broker.Forwarder: it sends the request on the
// Produce stream to the broker, in call order, and returns a wait for
// the ack.
func (p *peers) Produce(_ context.Context, to broker.Member, req broker.ProduceRequest) (func(context.Context) (int64, error), error) {
	conn, err := p.conn(to.PeerAddress)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	link, ok := p.links[to.PeerAddress]
	if !ok {
		link = &produceLink{conn: conn, waiting: map[uint64]chan produceResult{}}
		p.links[to.PeerAddress] = link
	}
	p.mu.Unlock()
	result, err := link.send(req)
	if err != nil {
		return nil, fmt.Errorf("forward to broker %d at %s: %w", to.NodeID, to.PeerAddress, err)
	}
	return func(ctx context.Context) (int64, error) {
		select {
		case r := <-result:
			switch {
			case r.err != nil:
				return 0, errs.Newf(broker.ErrUnavailable, "forwarded to broker %d at %s: %v; the records may or may not have been appended",
					to.NodeID, to.PeerAddress, r.err)
			case r.resp.Error != nil:
				return 0, status.ErrorProto(r.resp.Error)
			case len(r.resp.Acks) != 1:
				return 0, fmt.Errorf("broker %d acknowledged a forwarded request with %d acks", to.NodeID, len(r.resp.Acks))
			}
			return r.resp.Acks[0].BaseOffset, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}, nil
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.close()
	}
	for _, c := range p.conns {
		c.Close()
	}
}

// produceLink is a Produce stream to one broker shared by every forwarded
// request: requests go out in the order they are sent, and responses
// find their request by correlation id.
type produceLink struct {
	conn *grpc.ClientConn

	// sendMu orders the requests; it is held across SendMsg, which may
	// wait for flow control, so the receiving side never takes it.
	sendMu sync.Mutex

	mu      sync.Mutex // guards the rest
	stream  runnelv1.ProduceService_ProduceClient
	cancel  context.CancelFunc
	waiting map[uint64]chan produceResult
	nextID  uint64
}

type produceResult struct {
	resp *runnelv1.ProduceResponse
	err  error
}

func (l *produceLink) send(req broker.ProduceRequest) (<-chan produceResult, error) {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	stream, err := l.open()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.stream != stream {
		// It failed since open: its error reached the requests it had.
		l.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "the forwarding stream broke: retry")
	}
	l.nextID++
	id := l.nextID
	result := make(chan produceResult, 1)
	l.waiting[id] = result
	l.mu.Unlock()
	if err := stream.SendMsg(encodeProduceRequest(req, id)); err != nil {
		l.fail(stream, err)
		return nil, err
	}
	return result, nil
}

// open returns the link's stream, opening one if it has none; sendMu is
// held.
func (l *produceLink) open() (runnelv1.ProduceService_ProduceClient, error) {
	l.mu.Lock()
	stream := l.stream
	l.mu.Unlock()
	if stream != nil {
		return stream, nil
	}
	ctx, cancel := context.WithCancel(forwardingContext(context.Background()))
	stream, err := runnelv1.NewProduceServiceClient(l.conn).Produce(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	l.mu.Lock()
	l.stream, l.cancel = stream, cancel
	l.mu.Unlock()
	go l.receive(stream)
	return stream, nil
}

func (l *produceLink) receive(stream runnelv1.ProduceService_ProduceClient) {
	for {
		resp, err := stream.Recv()
		if err != nil {
			l.fail(stream, err)
			return
		}
		l.mu.Lock()
		result, ok := l.waiting[resp.CorrelationId]
		delete(l.waiting, resp.CorrelationId)
		l.mu.Unlock()
		if ok {
			result <- produceResult{resp: resp}
		}
	}
}

// fail fails every request waiting on stream and drops it, if it is
// still the link's; the next send opens another.
func (l *produceLink) fail(stream runnelv1.ProduceService_ProduceClient, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stream != stream {
		return
	}
	for id, result := range l.waiting {
		result <- produceResult{err: err}
		delete(l.waiting, id)
	}
	l.cancel()
	l.stream, l.cancel = nil, nil
}

func (l *produceLink) close() {
	l.mu.Lock()
	stream := l.stream
	l.mu.Unlock()
	if stream != nil {
		l.fail(stream, status.Error(codes.Unavailable, "the broker is shutting down"))
	}
}

// encodeProduceRequest encodes a runnel.v1.ProduceRequest around records
// already encoded (field numbers of produce.proto).
func encodeProduceRequest(req broker.ProduceRequest, correlationID uint64) encodedMessage {
	size := len(req.Topic) + 48
	for _, r := range req.Records {
		size += len(r) + 8
	}
	b := make([]byte, 0, size)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, req.Topic)
	if req.Partition != nil {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(*req.Partition)))
	}
	for _, r := range req.Records {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, r)
	}
	b = protowire.AppendTag(b, 4, protowire.VarintType)
	b = protowire.AppendVarint(b, correlationID)
	if req.Acks != runnelv1.Acks_ACKS_UNSPECIFIED {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(req.Acks))
	}
	if req.LeaderEpoch != 0 {
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, req.LeaderEpoch)
	}
	return b
}
