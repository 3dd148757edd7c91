package server

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/peer"
	"github.com/runnel-broker/runnel/server/internal/quota"
	"github.com/runnel-broker/runnel/server/internal/wire"
)

const (
	defaultMaxBatchBytes = 1 << 20
	maxMaxBatchBytes     = 16 << 20
)

type subscribeService struct {
	runnelv1.UnimplementedSubscribeServiceServer
	broker  *broker.Broker
	peers   *peer.Pool
	metrics *edgeMetrics
	// stopping is done when the server shuts down: following streams end
	// then rather than holding the shutdown up.
	stopping context.Context
	// budget holds every response's bytes from the read that builds it
	// until gRPC took it; one subscription holds at most streamBytes of
	// it, and at most two responses' worth (see Subscribe).
	budget      *memoryBudget
	streamBytes int64
	// conns says whether a group member's stream ended because its
	// connection was lost: the member then stays for the session timeout.
	conns *conns
	// quotas throttle a subscriber over its consume rate.
	quotas *throttler
}

// response is an encoded SubscribeResponse and the budget it holds.
type response struct {
	msg  wire.Message
	held lease
	// cursor is the partition it is a batch of (nil for a relayed one),
	// and next the offset after its last record: a group member's stream
	// tracks what it delivered with them.
	cursor *partitionCursor
	next   int64
	// after runs once the response is sent (an assignment event's).
	after func()
}

// partitionCursor is one partition of a subscription.
type partitionCursor struct {
	reader *broker.Reader
	next   int64
	end    int64 // with follow off: stop here (the high watermark at the call)
	// oldest: the subscription started at the log start, by any position
	// but an explicit offset (EARLIEST, say, or COMMITTED with nothing
	// committed since it): when retention deletes records before it read
	// them, it goes on at the new log start, as Kafka's consumer does with
	// auto.offset.reset=earliest, rather than fail OUT_OF_RANGE. The
	// offsets it gets show the gap.
	oldest bool
	// For a group member's stream: from is where it started, delivered
	// the offset after the last record sent (the sender sets it), revoked
	// set once the group took the partition away: batches read before are
	// dropped, not sent.
	from      int64
	delivered atomic.Int64
	revoked   atomic.Bool
}

// deliveredRange is what a group member's stream delivered of the
// partition.
func (c *partitionCursor) deliveredRange() broker.Delivered {
	return broker.Delivered{From: c.from, Next: c.delivered.Load()}
}

func (s *subscribeService) Subscribe(req *runnelv1.SubscribeRequest, stream runnelv1.SubscribeService_SubscribeServer) error {
	maxBytes := int(req.MaxBatchBytes)
	switch {
	case maxBytes < 0:
		return invalid("max_batch_bytes is %d: use 0 for the default or a positive size", maxBytes)
	case maxBytes == 0:
		maxBytes = defaultMaxBatchBytes
	case maxBytes > maxMaxBatchBytes:
		maxBytes = maxMaxBatchBytes
	}
	for _, c := range req.AcceptCompression {
		if c <= runnelv1.Compression_COMPRESSION_UNSPECIFIED || c > runnelv1.Compression_COMPRESSION_ZSTD {
			return invalid("accept_compression lists %d, not a codec: use COMPRESSION_GZIP, _SNAPPY, _LZ4 or _ZSTD", c)
		}
	}
	if req.Group != "" {
		if err := broker.ValidateGroup(req.Group); err != nil {
			return toStatus(err)
		}
	}
	if req.Group != "" && len(req.Partitions) == 0 {
		return s.subscribeMember(req, stream, maxBytes)
	}
	if len(req.Topics) > 0 || req.MemberId != "" || req.InstanceId != "" || req.AutoCommitInterval != nil {
		return invalid("topics, member_id, instance_id and auto_commit_interval are for a group member: set group, and no partitions")
	}
	t, err := s.broker.Topic(req.Topic)
	if err != nil {
		return toStatus(err)
	}
	partitions := slices.Sorted(slices.Values(req.Partitions))
	if len(partitions) == 0 {
		for p := range t.Partitions {
			partitions = append(partitions, p)
		}
	}
	if len(slices.Compact(slices.Clone(partitions))) != len(partitions) {
		return invalid("partitions lists a partition twice")
	}
	start, err := startPosition(req.StartPosition)
	if err != nil {
		return toStatus(err)
	}
	if start == broker.StartTimestamp {
		if err := req.StartTime.CheckValid(); err != nil {
			return invalid("start position TIMESTAMP needs a valid start_time: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(s.stopping, cancel)
	defer stop()

	cursors := make([]*partitionCursor, 0, len(partitions))
	var relays []*broker.NotReplicatedError
	for _, p := range partitions {
		r, err := s.broker.Reader(ctx, req.Topic, p)
		if nr, ok := errors.AsType[*broker.NotReplicatedError](err); ok && !forwardedCall(ctx) {
			relays = append(relays, nr)
			continue
		}
		if err != nil {
			return toStatus(err)
		}
		next, err := r.StartOffset(ctx, start, req.StartOffset, req.StartTime.AsTime(), req.Group)
		if err != nil {
			return toStatus(err)
		}
		cursors = append(cursors, &partitionCursor{reader: r, next: next, end: r.HighWatermark(),
			oldest: next == r.LogStartOffset() && start != broker.StartOffset})
	}

	// NB: a subscription holds at most two responses: one gRPC is
	// sending, one ready behind it. More would be read ahead for a client
	// that may never read them, and holding the memory budget meanwhile.
	// gRPC itself holds one more it took, until the client's flow control
	// window lets it out.
	budget := s.budget.stream(min(s.streamBytes, 2*int64(maxBytes)))
	batches := make(chan response, len(cursors)+len(relays))
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cursors {
		g.Go(func() error { return s.follow(gctx, req, c, maxBytes, budget, batches) })
	}
	for _, nr := range relays {
		g.Go(func() error { return s.relay(gctx, req, nr, budget, batches, nil) })
	}
	sent := make(chan error, 1)
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				// NB: SendMsg, not Send: the response is already encoded.
				var throttle time.Duration
				if throttle, err = s.quotas.take(ctx, quota.Consume, len(b.msg)); err == nil {
					err = stream.SendMsg(b.msg)
				}
				b.held.release()
				if err != nil {
					cancel()
				}
				// NB: the next response waits out the throttle.
				pause(ctx, s.stopping, throttle)
				continue
			}
			b.held.release()
		}
		sent <- err
	}()
	err = g.Wait()
	close(batches)
	if serr := <-sent; serr != nil {
		return toStatus(serr)
	}
	if err != nil && s.stopping.Err() != nil && stream.Context().Err() == nil {
		return toStatus(errs.Newf(broker.ErrUnavailable, "the broker is shutting down"))
	}
	return toStatus(err)
}

// follow reads one partition into out: up to c.end, or forever when the
// request follows, parking on the partition's notifier at the high
// watermark. Responses are built straight from the stored batches, each
// once budget holds room for it.
// acceptedCodecs are the codecs the subscriber decompresses.
func acceptedCodecs(req *runnelv1.SubscribeRequest) compression.Set {
	var s compression.Set
	for _, c := range req.AcceptCompression {
		s |= compression.SetOf(compression.Codec(c))
	}
	return s
}

func (s *subscribeService) follow(ctx context.Context, req *runnelv1.SubscribeRequest, c *partitionCursor, maxBytes int, budget *streamBudget, out chan<- response) error {
	end := int64(math.MaxInt64)
	if !req.Follow {
		end = c.end
	}
	for {
		if c.next >= end {
			return nil
		}
		// NB: the response is about maxBytes: its room is taken before it
		// is read, and adjusted to what it is once built (more when its
		// first record alone is larger).
		held, err := budget.acquire(ctx, int64(maxBytes))
		if err != nil {
			return err
		}
		changed := c.reader.Changed() // NB: before reading, so no wake-up is lost
		resp, n, next, err := c.reader.AppendResponse(nil, c.next, end, maxBytes, acceptedCodecs(req))
		if start := c.reader.LogStartOffset(); c.oldest && errors.Is(err, broker.ErrOffsetOutOfRange) && c.next < start {
			held.release()
			c.next = start
			continue
		}
		if err == nil && n > 0 {
			err = held.resize(ctx, int64(cap(resp)))
		}
		if err != nil || n == 0 {
			held.release()
		}
		if err != nil {
			return err
		}
		if n > 0 {
			s.metrics.consumedRecords.WithLabelValues(c.reader.Topic()).Add(float64(n))
			s.metrics.consumedBytes.WithLabelValues(c.reader.Topic()).Add(float64(len(resp)))
			select {
			case out <- response{msg: resp, held: held, cursor: c, next: next}:
			case <-ctx.Done():
				held.release()
				return ctx.Err()
			}
			c.next = next
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// relay serves a partition this broker does not replicate: it subscribes
// to it on a replica (any replica serves committed records) and passes
// the responses on as they come. A replica that is unavailable before it
// sent anything is skipped for the next. Its responses carry cursor, if
// any, without their next offset (-1), which only the batch knows.
func (s *subscribeService) relay(ctx context.Context, req *runnelv1.SubscribeRequest, nr *broker.NotReplicatedError, budget *streamBudget, out chan<- response, cursor *partitionCursor) error {
	sub := proto.CloneOf(req)
	sub.Partitions = []int32{nr.Partition}
	s.metrics.forwardedCalls.WithLabelValues("subscribe").Inc()
	var lastErr error = nr
	for _, m := range nr.Replicas {
		stream, err := s.peers.Subscribe(ctx, m.PeerAddress, sub)
		if err != nil {
			lastErr = err
			continue
		}
		for relayed := 0; ; relayed++ {
			var msg wire.Message
			err := stream.RecvMsg(&msg)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				if relayed == 0 && unavailable(err) && ctx.Err() == nil {
					lastErr = err
					break
				}
				if ctx.Err() == nil { // NB: broken mid-stream, not ended by our side
					s.metrics.forwardedFailure.WithLabelValues("subscribe").Inc()
				}
				return err
			}
			// NB: its size is known once gRPC has read it: wait for its
			// budget before reading the next.
			held, err := budget.acquire(ctx, int64(cap(msg)))
			if err != nil {
				return err
			}
			select {
			case out <- response{msg: msg, held: held, cursor: cursor, next: -1}:
			case <-ctx.Done():
				held.release()
				return ctx.Err()
			}
		}
	}
	s.metrics.forwardedFailure.WithLabelValues("subscribe").Inc()
	return lastErr
}
