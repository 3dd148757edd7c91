package server

import (
	"context"
	"fmt"
	"math"
	"slices"

	"golang.org/x/sync/errgroup"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
)

const (
	defaultMaxBatchBytes = 1 << 20
	maxMaxBatchBytes     = 16 << 20
)

type subscribeService struct {
	runnelv1.UnimplementedSubscribeServiceServer
	broker *broker.Broker
	// stopping is done when the server shuts down: following streams end
	// then rather than holding the shutdown up.
	stopping context.Context
}

// partitionCursor is one partition of a subscription.
type partitionCursor struct {
	reader *broker.Reader
	next   int64
	end    int64 // with follow off: stop here (the high watermark at the call)
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
	if req.StartPosition == runnelv1.StartPosition_START_POSITION_TIMESTAMP {
		if err := req.StartTime.CheckValid(); err != nil {
			return invalid("start position TIMESTAMP needs a valid start_time: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(s.stopping, cancel)
	defer stop()

	cursors := make([]*partitionCursor, 0, len(partitions))
	for _, p := range partitions {
		r, err := s.broker.Reader(req.Topic, p)
		if err != nil {
			return toStatus(err)
		}
		next, err := r.StartOffset(ctx, req.StartPosition, req.StartOffset, req.StartTime.AsTime(), req.Group)
		if err != nil {
			return toStatus(err)
		}
		cursors = append(cursors, &partitionCursor{reader: r, next: next, end: r.HighWatermark()})
	}

	batches := make(chan encodedMessage, len(cursors))
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cursors {
		g.Go(func() error { return s.follow(gctx, req, c, maxBytes, batches) })
	}
	sent := make(chan error, 1)
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				// NB: SendMsg, not Send: the response is already encoded.
				if err = stream.SendMsg(b); err != nil {
					cancel()
				}
			}
		}
		sent <- err
	}()
	err = g.Wait()
	close(batches)
	if serr := <-sent; serr != nil {
		return serr
	}
	if err != nil && s.stopping.Err() != nil && stream.Context().Err() == nil {
		return toStatus(fmt.Errorf("%w: the broker is shutting down", broker.ErrUnavailable))
	}
	return toStatus(err)
}

// follow reads one partition into out: up to c.end, or forever when the
// request follows, parking on the partition's notifier at the high
// watermark. Responses are built straight from the stored batches.
func (s *subscribeService) follow(ctx context.Context, req *runnelv1.SubscribeRequest, c *partitionCursor, maxBytes int, out chan<- encodedMessage) error {
	end := int64(math.MaxInt64)
	if !req.Follow {
		end = c.end
	}
	for {
		if c.next >= end {
			return nil
		}
		changed := c.reader.Changed() // NB: before reading, so no wake-up is lost
		resp, n, next, err := c.reader.AppendResponse(nil, c.next, end, maxBytes)
		if err != nil {
			return err
		}
		if n > 0 {
			select {
			case out <- encodedMessage(resp):
			case <-ctx.Done():
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
