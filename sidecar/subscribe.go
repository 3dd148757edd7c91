package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/recordbatch"
)

// resumeFor is how long a subscription may go without reaching the
// application while the sidecar tries to resume it on the cluster's
// brokers, before it ends UNAVAILABLE (from the call's start, or from
// the last response it relayed).
const resumeFor = 30 * time.Second

type subscribeService struct {
	runnelv1.UnimplementedSubscribeServiceServer
	s *Sidecar
}

// Subscribe relays a subscription to an upstream broker and, when that
// stream breaks (the broker died or shut down, a leadership moved),
// resumes it on the next broker from where the application's stream left
// off, so that the application sees neither a gap nor a record twice:
//   - a read of partitions resumes each one at the offset after the last
//     record sent of it;
//   - a group member re-attaches as the member it was (member_id), within
//     the group's session timeout keeps its partitions, and is not sent
//     again what it was sent already (the broker restarts a partition at
//     its committed offset), nor the same assignment twice.
//
// Responses pass as the broker sent them, undecoded but for tracking.
func (p *subscribeService) Subscribe(req *runnelv1.SubscribeRequest, ss grpc.ServerStreamingServer[runnelv1.SubscribeResponse]) error {
	s := p.s
	sub := &subscription{s: s, req: req, ss: ss, next: map[partition]int64{}}
	ctx := outgoing(ss.Context())
	last := time.Now() // of the call's start, or of the last response relayed
	pause := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		addrs := s.up.order()
		addr := addrs[attempt%len(addrs)]
		progressed, err := sub.attempt(ctx, addr)
		if err == nil {
			s.up.answered(addr)
			return nil
		}
		if !retriable(err) || ctx.Err() != nil {
			return err
		}
		err = fmt.Errorf("upstream %s: %w", addr, err)
		s.metrics.upstreamErrors.WithLabelValues(status.Code(err).String()).Inc()
		if progressed {
			last, pause = time.Now(), 100*time.Millisecond
		}
		if time.Since(last) > resumeFor {
			return status.Errorf(codes.Unavailable, "the sidecar could not resume this subscription on any upstream broker for %s: %v", resumeFor, err)
		}
		if sub.sentAny {
			s.metrics.subscriptionsResumed.Inc()
			s.logger.Info("sidecar: resuming a subscription", "topic", req.Topic, "group", req.Group, "err", err)
		}
		if (attempt+1)%len(addrs) != 0 {
			continue // NB: the next broker at once; a pause once all were tried.
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// outgoing is ctx with the application's call metadata to pass upstream.
func outgoing(ctx context.Context) context.Context {
	if md, ok := grpcmd.FromIncomingContext(ctx); ok {
		return grpcmd.NewOutgoingContext(ctx, md.Copy())
	}
	return ctx
}

type partition struct {
	topic     string
	partition int32
}

// subscription is one application stream's state across the upstream
// streams that serve it in turn.
type subscription struct {
	s   *Sidecar
	req *runnelv1.SubscribeRequest
	ss  grpc.ServerStream
	// next is, per partition, the offset after the last record sent to
	// the application: a resumed read starts there, and nothing below it
	// is sent again.
	next map[partition]int64
	// assignment is the last assignment event sent to a group member.
	assignment *runnelv1.GroupAssignment
	sentAny    bool
}

func (sub *subscription) member() bool { return sub.req.Group != "" && len(sub.req.Partitions) == 0 }

// requests are the upstream requests that carry on the subscription: the
// application's at first; then, for a member, the same as the member it
// was; for a read of partitions, one request per partition with progress
// (from its next offset) and one for the others (from the start asked).
func (sub *subscription) requests(ctx context.Context) ([]*runnelv1.SubscribeRequest, error) {
	if len(sub.next) == 0 && sub.assignment == nil {
		return []*runnelv1.SubscribeRequest{sub.req}, nil
	}
	if sub.member() {
		r := proto.CloneOf(sub.req)
		r.MemberId = sub.assignment.GetMemberId()
		return []*runnelv1.SubscribeRequest{r}, nil
	}
	parts := sub.req.Partitions
	if len(parts) == 0 {
		t, err := sub.s.meta.topic(ctx, sub.req.Topic)
		if err != nil {
			return nil, err
		}
		for p := range t.Partitions {
			parts = append(parts, p)
		}
	}
	var reqs []*runnelv1.SubscribeRequest
	rest := proto.CloneOf(sub.req)
	rest.Partitions = nil
	for _, p := range parts {
		next, ok := sub.next[partition{sub.req.Topic, p}]
		if !ok {
			rest.Partitions = append(rest.Partitions, p)
			continue
		}
		r := proto.CloneOf(sub.req)
		r.Partitions, r.StartPosition, r.StartOffset, r.StartTime = []int32{p}, runnelv1.StartPosition_START_POSITION_OFFSET, next, nil
		reqs = append(reqs, r)
	}
	if len(rest.Partitions) > 0 {
		reqs = append(reqs, rest)
	}
	return reqs, nil
}

// upstreamResponse is a response of one of an attempt's upstream streams.
type upstreamResponse struct {
	cs   grpc.ClientStream
	data []byte
}

// attempt carries the subscription on upstream broker addr until its
// streams end (nil), one fails (its error) or ctx ends, and says whether
// it sent the application anything.
func (sub *subscription) attempt(ctx context.Context, addr string) (progressed bool, err error) {
	conn, err := sub.s.up.conn(addr)
	if err != nil {
		return false, status.Errorf(codes.Unavailable, "%v", err)
	}
	reqs, err := sub.requests(ctx)
	if err != nil {
		return false, err
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	// NB: out is unbuffered: once a stream's end is in ended, every
	// response it had was taken.
	out := make(chan upstreamResponse)
	ended := make(chan error, len(reqs))
	for _, r := range reqs {
		go func() { ended <- relayUpstream(actx, conn, r, out) }()
	}
	for left := len(reqs); left > 0; {
		select {
		case resp := <-out:
			sent, err := sub.relay(resp)
			if err != nil {
				return progressed, err
			}
			progressed = progressed || sent
		case err := <-ended:
			if err != nil {
				return progressed, err
			}
			left--
		}
	}
	return progressed, nil
}

// relayUpstream runs one upstream subscription, passing its responses to
// out, and returns its end: nil for its end of stream.
func relayUpstream(ctx context.Context, conn *grpc.ClientConn, req *runnelv1.SubscribeRequest, out chan<- upstreamResponse) error {
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, runnelv1.SubscribeService_Subscribe_FullMethodName,
		grpc.ForceCodecV2(newRelayCodec()))
	if err == nil {
		err = cs.SendMsg(req)
	}
	if err == nil {
		err = cs.CloseSend()
	}
	for err == nil {
		f := &frame{}
		if err = cs.RecvMsg(f); err != nil {
			break
		}
		select {
		case out <- upstreamResponse{cs: cs, data: f.data}:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// relay sends the application an upstream response, but for records it
// was sent already and a member's assignment it was told already, and
// says whether it sent anything.
func (sub *subscription) relay(r upstreamResponse) (bool, error) {
	var resp runnelv1.SubscribeResponse
	if err := proto.Unmarshal(r.data, &resp); err != nil {
		return false, status.Errorf(codes.Internal, "relay Subscribe: %v", err)
	}
	data := r.data
	switch {
	case resp.Assignment != nil:
		a := resp.Assignment
		if proto.Equal(a, sub.assignment) {
			return false, nil
		}
		sub.assignment = a
		for _, tp := range a.Revoked {
			for _, p := range tp.Partitions {
				// NB: if it comes back, the group's committed offset says
				// where from.
				delete(sub.next, partition{tp.Topic, p})
			}
		}
	case resp.Batch != nil:
		b := resp.Batch
		key := partition{b.Topic, b.Partition}
		next, seen := sub.next[key]
		if seen && firstOffset(b) < next {
			recs, err := recordbatch.Records(b, next)
			if err != nil {
				return false, status.Errorf(codes.DataLoss, "relay Subscribe: %v", err)
			}
			if len(recs) == 0 {
				return false, nil
			}
			if data, err = proto.Marshal(&runnelv1.SubscribeResponse{Batch: &runnelv1.RecordBatch{Topic: b.Topic, Partition: b.Partition,
				Records: recs, HighWatermark: b.HighWatermark}}); err != nil {
				return false, status.Errorf(codes.Internal, "relay Subscribe: %v", err)
			}
		}
		sub.next[key] = max(next, recordbatch.Next(b, next))
	}
	if !sub.sentAny {
		if md, err := r.cs.Header(); err == nil {
			sub.ss.SendHeader(md)
		}
	}
	if err := sub.ss.SendMsg(&frame{data: data}); err != nil {
		return false, err
	}
	sub.sentAny = true
	return true, nil
}

// firstOffset is the offset of a batch's first record.
func firstOffset(b *runnelv1.RecordBatch) int64 {
	if z := b.GetCompressed(); z != nil {
		return z.BaseOffset
	}
	if len(b.Records) > 0 {
		return b.Records[0].Offset
	}
	return b.HighWatermark
}
