package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/authz"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/peer"
	"github.com/runnel-broker/runnel/server/internal/quota"
)

// maxProduceInFlight bounds the requests of one Produce stream submitted
// but not yet acknowledged: past it the stream stops reading, and gRPC
// flow control pushes back on the client. Their bytes are bounded too, by
// the stream's share of the memory budget (Config.MaxStreamInflightBytes).
const maxProduceInFlight = 64

// produceCopies is what a produce request costs the memory budget, in
// multiples of its size: in flight, its records are held twice, as the
// batch raft appends and as the frames the segment store writes of it
// (the request's own copy is dropped once the batch is built).
const produceCopies = 2

type produceService struct {
	runnelv1.UnimplementedProduceServiceServer
	broker  *broker.Broker
	peers   *peer.Pool
	metrics *edgeMetrics
	// stopping is done when the server shuts down: streams then stop
	// taking requests, deliver the acks in flight and end.
	stopping context.Context
	streams  atomic.Int64 // the Produce calls running
	// budget holds every request's bytes from receipt until its ack is
	// known; one stream holds at most streamBytes of it.
	budget      *memoryBudget
	streamBytes int64
	// guard authorizes each request (PRODUCE on its topic).
	guard *guard
	// quotas throttle each request's principal, over its produce or
	// request rate.
	quotas *throttler
}

// drain waits, once stopping is done, until every Produce stream has
// delivered its acks in flight and ended, or ctx ends.
func (s *produceService) drain(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.streams.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%d stream(s) left: %w", s.streams.Load(), ctx.Err())
		}
	}
	return nil
}

// Produce reads requests in order and submits each before reading the
// next, so requests keep their order per partition; a sender goroutine
// waits for the acks and writes responses in request order. Each request's
// bytes are held in the memory budget until its ack is known: a stream
// that finds its share or the broker's budget spent reads no more.
func (s *produceService) Produce(stream runnelv1.ProduceService_ProduceServer) error {
	s.streams.Add(1)
	defer s.streams.Add(-1)
	ctx := stream.Context()
	responses := make(chan func() *runnelv1.ProduceResponse, maxProduceInFlight)
	sent := make(chan error, 1)
	go func() {
		var err error
		for next := range responses {
			resp := next()
			if err == nil {
				err = stream.Send(resp)
			}
		}
		sent <- err
	}()
	// finish delivers the acks in flight, then ends the stream with err.
	finish := func(err error) error {
		close(responses)
		if serr := <-sent; serr != nil {
			return serr
		}
		return err
	}
	// NB: the requests one broker forwards to this one share one stream
	// (server/internal/peer), the producers of many clients: that stream is bounded
	// by the broker's budget alone.
	share := s.streamBytes
	if forwardedCall(ctx) {
		share = s.budget.size
	}
	requests, received := receive(ctx, stream, s.budget.stream(share))
	for {
		var req *produceRequest
		select {
		case req = <-requests:
		case err := <-received:
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return finish(err)
		case <-s.stopping.Done():
			return finish(toStatus(errs.Newf(broker.ErrUnavailable, "the broker is shutting down; requests not answered were not appended")))
		}
		id, held := req.correlationID, req.lease
		if req.err != nil {
			held.release()
			err := errs.Newf(broker.ErrInvalid, "%v", req.err)
			responses <- func() *runnelv1.ProduceResponse { return produceError(id, nil, err) }
			continue
		}
		taken := time.Now()
		err := s.guard.authorize(ctx, authz.Produce, authz.Resource{Type: authz.Topic, Name: req.topic})
		var d raftstore.Durability
		if err == nil {
			d, err = durability(req.acks)
		}
		var throttle time.Duration
		if err == nil {
			throttle, err = s.throttle(ctx, req)
		}
		var pending *broker.PendingProduce
		if err == nil {
			pending, err = s.broker.Produce(ctx, broker.ProduceRequest{Topic: req.topic, Partition: req.partition,
				Records: req.records, Compressed: req.compressed, Durability: d, LeaderEpoch: req.leaderEpoch, Producer: req.producer,
				Forwarded: forwardedCall(ctx)})
		}
		if err == nil {
			// NB: sent now, before the next request is taken: requests
			// keep their order on each broker's link.
			for _, f := range pending.Forwards() {
				f.Resolve(s.forward(ctx, f))
			}
		}
		if err != nil {
			held.release()
			responses <- func() *runnelv1.ProduceResponse { return produceError(id, nil, err) }
			continue
		}
		// NB: the ack is awaited here, not by the sender, so that the
		// request's budget comes back as soon as the ack is known (the
		// batch is then in the log, and raft holds no copy of it), even
		// while the sender waits for a client that does not read acks.
		// NB: the goroutine keeps the request's size, not the request: its
		// records alias the message's buffer, garbage once the batch is
		// built but held (outside the budget's count) while a reference
		// lives.
		acked, size := make(chan *runnelv1.ProduceResponse, 1), sizeOf(req)
		go func() {
			acks, err := pending.Wait(ctx)
			s.observe(ctx, size, d, taken, acks)
			held.release()
			if err != nil {
				acked <- produceError(id, acks, err)
				return
			}
			acked <- &runnelv1.ProduceResponse{CorrelationId: id, Acks: produceAcks(acks)}
		}()
		if throttle > 0 {
			// NB: as Kafka mutes a throttled connection: the response waits
			// out the throttle, and so does the next request.
			until := time.Now().Add(throttle)
			responses <- func() *runnelv1.ProduceResponse {
				resp := <-acked
				pause(ctx, s.stopping, time.Until(until))
				return resp
			}
			pause(ctx, s.stopping, throttle)
			continue
		}
		responses <- func() *runnelv1.ProduceResponse { return <-acked }
	}
}

// throttle accounts for a request under its principal's quotas (a
// request, and its bytes) and returns the longer of the two throttles.
func (s *produceService) throttle(ctx context.Context, req *produceRequest) (time.Duration, error) {
	r, err := s.quotas.take(ctx, quota.Request, 1)
	if err != nil {
		return 0, err
	}
	b, err := s.quotas.take(ctx, quota.Produce, requestBytes(req))
	return max(r, b), err
}

// requestBytes is the size of a request's records, as the producer
// encoded them (compressed, if it compressed them).
func requestBytes(req *produceRequest) int {
	if c := req.compressed; c != nil {
		return len(c.Data)
	}
	n := 0
	for _, r := range req.records {
		n += len(r)
	}
	return n
}

// InitProducer gives an idempotent producer a new id, unique in the
// cluster.
func (s *produceService) InitProducer(ctx context.Context, _ *runnelv1.InitProducerRequest) (*runnelv1.InitProducerResponse, error) {
	id, err := s.broker.InitProducer(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &runnelv1.InitProducerResponse{ProducerId: id}, nil
}

// forward sends f to the first broker of f.To that takes it.
func (s *produceService) forward(ctx context.Context, f *broker.Forward) (func(context.Context) (int64, error), error) {
	s.metrics.forwardedCalls.WithLabelValues("produce").Inc()
	var errs []error
	for _, m := range f.To {
		wait, err := s.peers.Produce(ctx, m, f.Request)
		if err == nil {
			return wait, nil
		}
		errs = append(errs, err)
	}
	s.metrics.forwardedFailure.WithLabelValues("produce").Inc()
	return nil, errors.Join(errs...)
}

// observe counts a request's acks, once, on the broker the producer
// called: not again where another broker forwarded it.
func (s *produceService) observe(ctx context.Context, size requestSize, d raftstore.Durability, taken time.Time, acks []broker.Ack) {
	if forwardedCall(ctx) {
		return
	}
	s.metrics.produceAck.WithLabelValues(acksLabel(d)).Observe(time.Since(taken).Seconds())
	acked := 0
	for _, a := range acks {
		acked += a.Count
	}
	if acked == 0 {
		return
	}
	s.metrics.producedRecords.WithLabelValues(size.topic).Add(float64(acked))
	// NB: a request acked in part counts its share of the bytes.
	s.metrics.producedBytes.WithLabelValues(size.topic).Add(float64(size.bytes) * float64(acked) / float64(size.records))
}

// requestSize is what the metrics count of a request.
type requestSize struct {
	topic          string
	bytes, records int // NB: bytes as sent, compressed or not
}

func sizeOf(req *produceRequest) requestSize {
	size := requestSize{topic: req.topic, bytes: requestBytes(req), records: len(req.records)}
	if c := req.compressed; c != nil {
		size.records = c.Count
	}
	return size
}

// receive reads the stream's requests on its own goroutine, so that the
// handler can stop taking them at shutdown; received gets the error that
// ended the stream (io.EOF when the client closed it). The goroutine ends
// with the stream.
//
// Each request takes its size from budget before the next is read, so
// that a stream out of budget stops reading and gRPC flow control holds
// its client back. The size of a message is known only once gRPC has read
// it, so a waiting stream holds one request beyond the budget.
func receive(ctx context.Context, stream runnelv1.ProduceService_ProduceServer, budget *streamBudget) (<-chan *produceRequest, <-chan error) {
	requests := make(chan *produceRequest)
	received := make(chan error, 1)
	go func() {
		for {
			// NB: RecvMsg into a produceRequest: the codec leaves the
			// records as the producer encoded them (codec.go).
			req := &produceRequest{}
			if err := stream.RecvMsg(req); err != nil {
				received <- err
				return
			}
			var err error
			if req.lease, err = budget.acquire(ctx, produceCopies*req.size); err != nil {
				return // the stream ended
			}
			select {
			case requests <- req:
			case <-ctx.Done():
				req.lease.release()
				return
			}
		}
	}()
	return requests, received
}

func produceError(id uint64, acks []broker.Ack, err error) *runnelv1.ProduceResponse {
	return &runnelv1.ProduceResponse{
		CorrelationId: id,
		Acks:          produceAcks(acks),
		Error:         status.Convert(toStatus(err)).Proto(),
	}
}
