package client

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// source is one partition's own read: a Subscribe stream of that
// partition, restarted after the last record it received when it breaks.
type source struct {
	tp     topicPartition
	cancel context.CancelFunc
}

// startReadLocked starts a read of tp at spec as st's own.
func (k *Consumer) startReadLocked(tp topicPartition, st *partState, spec startSpec) {
	ctx, cancel := context.WithCancel(k.ctx)
	s := &source{tp: tp, cancel: cancel}
	st.src = s
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		defer cancel()
		k.readPartition(ctx, s, spec)
	}()
}

// deliver hands ev to the Records loop; false once ctx is done.
func (k *Consumer) deliver(ctx context.Context, ev event) bool {
	select {
	case k.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// readPartition reads one partition into the loop until ctx ends, on the
// partition's leader (any broker serves a read, relaying: on failure the
// next tries go to the others), restarting after what it received.
func (k *Consumer) readPartition(ctx context.Context, s *source, spec startSpec) {
	log := k.c.opts.logger
	b := newBackoff()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		req := &runnelv1.SubscribeRequest{Topic: s.tp.topic, Partitions: []int32{s.tp.partition}, StartPosition: spec.pos,
			StartOffset: spec.offset, Follow: !k.o.stopAtEnd, MaxBatchBytes: k.o.maxBytes, AcceptCompression: acceptedCodecs}
		switch spec.pos {
		case runnelv1.StartPosition_START_POSITION_TIMESTAMP:
			req.StartTime = timestamppb.New(spec.time)
		case runnelv1.StartPosition_START_POSITION_COMMITTED:
			req.Group = k.o.group
		}
		addr := k.readAddr(ctx, s.tp, attempt)
		err := k.readStream(ctx, addr, req, func(resp *runnelv1.SubscribeResponse) bool {
			batch := resp.GetBatch()
			if batch == nil || len(batch.Records) == 0 {
				return true
			}
			next := batch.Records[len(batch.Records)-1].Offset + 1
			spec = startSpec{pos: runnelv1.StartPosition_START_POSITION_OFFSET, offset: next}
			b.reset()
			attempt = -1 // NB: it served: start again at the leader
			return k.deliver(ctx, event{src: s, batch: batch})
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errReadEnded) {
			k.deliver(ctx, event{src: s, ended: true})
			return
		}
		if permanent(err) {
			k.deliver(ctx, event{src: s, err: &PartitionError{Topic: s.tp.topic, Partition: s.tp.partition, Err: err}})
			return
		}
		log.Warn("runnel consumer: partition read broke; reading again", "topic", s.tp.topic, "partition", s.tp.partition,
			"broker", addr, "from", spec.offset, "err", err)
		if !b.wait(ctx) {
			return
		}
	}
}

// readAddr is where a partition's attempt-th read goes: its leader
// (metadata asked again after a failure), every other try the next
// broker the client knows.
func (k *Consumer) readAddr(ctx context.Context, tp topicPartition, attempt int) string {
	addrs := k.c.candidates()
	if attempt%2 == 0 {
		if meta, err := k.c.topic(ctx, tp.topic, attempt > 0); err == nil && int(tp.partition) < len(meta.partitions) {
			if a := meta.partitions[tp.partition].addr; a != "" {
				return a
			}
		}
	}
	if len(addrs) == 0 {
		return ""
	}
	return addrs[(attempt/2)%len(addrs)]
}

// errReadEnded is the end of a read without follow (WithStopAtEnd): the
// broker sent everything up to its end.
var errReadEnded = errors.New("client: the read reached its end")

// readStream runs one Subscribe stream on addr, passing each response to
// fn until fn says stop (nil) or the stream ends (its error; io.EOF,
// which a following stream never ends with by itself, is UNAVAILABLE,
// and errReadEnded for a stream without follow).
func (k *Consumer) readStream(ctx context.Context, addr string, req *runnelv1.SubscribeRequest, fn func(*runnelv1.SubscribeResponse) bool) error {
	if addr == "" {
		return status.Error(codes.Unavailable, "no broker known")
	}
	conn, err := k.c.connTo(addr)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := runnelv1.NewSubscribeServiceClient(conn).Subscribe(sctx, req)
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) && !req.Follow {
			return errReadEnded
		}
		if errors.Is(err, io.EOF) {
			return status.Errorf(codes.Unavailable, "the subscription to %s ended", addr)
		}
		if err != nil {
			return err
		}
		if b := resp.GetBatch(); b.GetCompressed() != nil {
			// NB: a batch as the producer compressed it: its records here,
			// with their offsets.
			if b.Records, err = batchRecords(b, 0); err != nil {
				return status.Error(codes.DataLoss, err.Error())
			}
			b.Compressed = nil
		}
		if !fn(resp) {
			return ctx.Err()
		}
	}
}

// permanent says whether a read's error is the broker's answer to the
// request, which another try would get again. DATA_LOSS (a damaged
// record in the broker's log, or a compressed batch that does not
// decompress) is one: reading it again reads the same bytes.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.DataLoss, codes.InvalidArgument, codes.NotFound, codes.OutOfRange, codes.FailedPrecondition, codes.PermissionDenied,
		codes.Unauthenticated, codes.Unimplemented, codes.AlreadyExists:
		return true
	}
	return errors.Is(err, ErrClosed)
}

// removed says whether a member stream ended because the group removed
// the member (its rebalance timeout or session passed), which a new
// member may join again, rather than for good (another stream of the
// same instance took over).
func removed(err error) bool {
	st, _ := status.FromError(err)
	return st.Code() == codes.FailedPrecondition && strings.Contains(st.Message(), "removed member")
}

// runMember holds the consumer's group membership: one Subscribe stream
// that is the member, re-opened with the member id after it breaks (the
// member keeps its partitions for the group's session timeout), through
// the brokers the client knows in turn.
func (k *Consumer) runMember(ctx context.Context) {
	log := k.c.opts.logger
	b := newBackoff()
	var memberID string
	reset := runnelv1.StartPosition_START_POSITION_EARLIEST
	if k.o.reset == ResetLatest {
		reset = runnelv1.StartPosition_START_POSITION_LATEST
	}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		req := &runnelv1.SubscribeRequest{Group: k.o.group, Topics: k.o.topics, MemberId: memberID, InstanceId: k.o.instanceID,
			StartPosition: reset, Follow: !k.o.stopAtEnd, MaxBatchBytes: k.o.maxBytes, AcceptCompression: acceptedCodecs}
		addrs := k.c.candidates()
		addr := ""
		if len(addrs) > 0 {
			addr = addrs[attempt%len(addrs)]
		}
		err := k.readStream(ctx, addr, req, func(resp *runnelv1.SubscribeResponse) bool {
			if a := resp.GetAssignment(); a != nil {
				if memberID != "" && a.MemberId != memberID {
					log.Info("runnel consumer: joined the group as a new member", "group", k.o.group, "was", memberID, "now", a.MemberId)
				}
				memberID = a.MemberId
				b.reset()
				attempt = -1
				return k.deliver(ctx, event{assign: a})
			}
			if batch := resp.GetBatch(); batch != nil && len(batch.Records) > 0 {
				return k.deliver(ctx, event{batch: batch})
			}
			return true
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errReadEnded) {
			k.deliver(ctx, event{ended: true})
			return
		}
		if removed(err) {
			// NB: as Kafka's consumer on FENCED_MEMBER_EPOCH: its
			// partitions are gone (OnRevoked is called), and it joins
			// again as a new member.
			log.Warn("runnel consumer: the group removed this member; joining again", "group", k.o.group, "member", memberID, "err", err)
			memberID = ""
			if !k.deliver(ctx, event{assign: &runnelv1.GroupAssignment{Group: k.o.group}}) || !b.wait(ctx) {
				return
			}
			continue
		}
		if permanent(err) {
			k.deliver(ctx, event{err: err})
			return
		}
		log.Warn("runnel consumer: group member stream broke; re-attaching", "group", k.o.group, "member", memberID, "broker", addr, "err", err)
		if !b.wait(ctx) {
			return
		}
	}
}

// backoff is an exponential backoff with jitter: 50ms doubling to 5s.
type backoff struct{ next time.Duration }

func newBackoff() *backoff { return &backoff{next: 50 * time.Millisecond} }

func (b *backoff) reset() { b.next = 50 * time.Millisecond }

// wait waits the next delay; false once ctx is done.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next/2 + time.Duration(time.Now().UnixNano()%int64(b.next/2+1))
	b.next = min(2*b.next, 5*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
