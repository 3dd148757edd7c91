package peer

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/wire"
)

// Produce sends req, for one partition, to broker to on the Produce
// stream the pool keeps to it, in call order, and returns a wait for the
// base offset.
func (p *Pool) Produce(_ context.Context, to broker.Member, req broker.ProduceRequest) (func(context.Context) (int64, error), error) {
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
		return nil, errs.Newf(broker.ErrUnavailable, "the forwarding stream broke: retry")
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
	ctx, cancel := context.WithCancel(context.Background())
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
		l.fail(stream, errs.Newf(broker.ErrUnavailable, "the broker is shutting down"))
	}
}

// encodeProduceRequest encodes a runnel.v1.ProduceRequest around records
// already encoded (field numbers of produce.proto).
func encodeProduceRequest(req broker.ProduceRequest, correlationID uint64) wire.Message {
	size := len(req.Topic) + 96
	if req.Compressed != nil {
		size += len(req.Compressed.Data)
	}
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
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(acks(req.Durability)))
	if req.LeaderEpoch != 0 {
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, req.LeaderEpoch)
	}
	if c := req.Compressed; c != nil {
		inner := protowire.SizeTag(1) + protowire.SizeVarint(uint64(c.Codec)) + protowire.SizeTag(2) + protowire.SizeBytes(len(c.Data)) +
			protowire.SizeTag(3) + protowire.SizeVarint(uint64(c.Count))
		b = protowire.AppendTag(b, 10, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(inner))
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(c.Codec))
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, c.Data)
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(c.Count))
	}
	if req.Producer.ID != 0 {
		b = protowire.AppendTag(b, 7, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(req.Producer.ID))
		b = protowire.AppendTag(b, 8, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(req.Producer.Epoch)))
		b = protowire.AppendTag(b, 9, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(req.Producer.Sequence))
	}
	return b
}

// acks is the acks setting that asks for d.
func acks(d raftstore.Durability) runnelv1.Acks {
	if d == raftstore.LeaderOnly {
		return runnelv1.Acks_ACKS_LEADER
	}
	return runnelv1.Acks_ACKS_ALL
}
