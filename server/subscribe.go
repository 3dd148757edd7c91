package server

import (
	"context"
	"fmt"
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
	partitions := slices.Clone(req.Partitions)
	if len(partitions) == 0 {
		for p := range t.Partitions {
			partitions = append(partitions, p)
		}
	}
	slices.Sort(partitions)
	if len(slices.Compact(partitions)) != len(req.Partitions) && len(req.Partitions) > 0 {
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

	batches := make(chan *runnelv1.SubscribeResponse, len(cursors))
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cursors {
		g.Go(func() error { return s.follow(gctx, req, c, maxBytes, batches) })
	}
	sent := make(chan error, 1)
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				if err = stream.Send(b); err != nil {
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
// watermark.
func (s *subscribeService) follow(ctx context.Context, req *runnelv1.SubscribeRequest, c *partitionCursor, maxBytes int, out chan<- *runnelv1.SubscribeResponse) error {
	for {
		if !req.Follow && c.next >= c.end {
			return nil
		}
		changed := c.reader.Changed() // NB: before reading, so no wake-up is lost
		recs, next, err := c.reader.Read(c.next, maxBytes)
		if err != nil {
			return err
		}
		if !req.Follow {
			if i := slices.IndexFunc(recs, func(r *runnelv1.Record) bool { return r.Offset >= c.end }); i >= 0 {
				recs, next = recs[:i], c.end
			}
		}
		if len(recs) > 0 {
			batch := &runnelv1.SubscribeResponse{Batch: &runnelv1.RecordBatch{
				Topic:         req.Topic,
				Partition:     c.reader.Partition(),
				Records:       recs,
				HighWatermark: c.reader.HighWatermark(),
			}}
			select {
			case out <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
			c.next = next
			continue
		}
		c.next = max(c.next, next)
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
