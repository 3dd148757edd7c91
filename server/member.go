package server

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/group"
	"github.com/runnel-broker/runnel/server/internal/quota"
	"github.com/runnel-broker/runnel/server/internal/wire"
)

// subscribeMember serves a Subscribe stream that is a member of its
// group (group set, no partitions): the group's coordinator says which
// partitions it reads, and the stream carries each change as an
// assignment response, ordered with the batches: after the last batch of
// a partition taken away, before the first of one given.
//
// On a broker that does not coordinate the group the whole stream is
// relayed to the one that does, which reads the partitions (and relays
// those it does not replicate).
func (s *subscribeService) subscribeMember(req *runnelv1.SubscribeRequest, stream runnelv1.SubscribeService_SubscribeServer, maxBytes int) error {
	reset, err := memberReset(req.StartPosition)
	if err != nil {
		return toStatus(err)
	}
	interval, err := autoCommitInterval(req)
	if err != nil {
		return err
	}
	topics := slices.DeleteFunc(append([]string{req.Topic}, req.Topics...), func(t string) bool { return t == "" })
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(s.stopping, cancel)
	defer stop()

	var client string
	if p, ok := grpcpeer.FromContext(ctx); ok && !forwardedCall(ctx) {
		client = p.Addr.String()
	}
	m, err := s.broker.JoinGroup(broker.JoinGroup{Group: req.Group, MemberID: req.MemberId, InstanceID: req.InstanceId,
		Topics: topics, Client: client})
	if nc, ok := errors.AsType[*broker.NotCoordinatorError](err); ok && nc.Coordinator.PeerAddress != "" && !forwardedCall(ctx) {
		return s.relayMember(ctx, req, nc, stream, maxBytes)
	}
	if err != nil {
		return toStatus(err)
	}
	ms := &memberStream{s: s, req: req, member: m, reset: reset, maxBytes: maxBytes, autoCommit: interval,
		budget: s.budget.stream(min(s.streamBytes, 2*int64(maxBytes))),
		out:    make(chan response, 2), owned: map[group.Partition]*memberPartition{},
		released: map[group.Partition]*partitionCursor{}, failed: make(chan readerFailure)}
	err = ms.run(ctx, cancel, stream)
	// NB: a static member keeps its partitions for the session timeout
	// whatever ended its stream: it is expected back. A dynamic member
	// leaves, unless its connection was lost or its broker is shutting
	// down: then it may come back too.
	lost := req.InstanceId != "" || s.stopping.Err() != nil || s.conns.lost(stream.Context())
	if ms.committer != nil && !lost {
		ms.committer.final() // as Kafka's consumer commits when it closes
	}
	m.Close(lost, ms.delivered())
	if err != nil && s.stopping.Err() != nil && stream.Context().Err() == nil {
		return toStatus(&broker.NotCoordinatorError{Group: req.Group})
	}
	return toStatus(err)
}

// memberReset is where a member starts a partition its group has no
// committed offset in.
func memberReset(p runnelv1.StartPosition) (broker.StartPosition, error) {
	switch p {
	case runnelv1.StartPosition_START_POSITION_UNSPECIFIED, runnelv1.StartPosition_START_POSITION_COMMITTED,
		runnelv1.StartPosition_START_POSITION_EARLIEST:
		return broker.StartEarliest, nil
	case runnelv1.StartPosition_START_POSITION_LATEST:
		return broker.StartLatest, nil
	}
	return 0, invalid("a group member starts each partition at the group's committed offset, and start_position says where to start without one: EARLIEST (the default) or LATEST, not %v; to read from an offset or a time, name the partitions", p)
}

// memberStream is one group member's stream: the partitions it reads,
// started and stopped as its assignment changes.
type memberStream struct {
	s        *subscribeService
	req      *runnelv1.SubscribeRequest
	member   *broker.GroupMember
	reset    broker.StartPosition
	maxBytes int
	budget   *streamBudget
	// out is every response in the order the stream sends it: batches and
	// assignment events, so that an event sent after a partition's reader
	// stopped follows its batches.
	out   chan response
	owned map[group.Partition]*memberPartition
	told  group.View // the view the last event sent
	// released: partitions taken away that the group still waits on,
	// with what the stream delivered of them (nil: it never read one),
	// until the group's view no longer lists them revoking: the stream's
	// end reports them.
	released map[group.Partition]*partitionCursor
	// autoCommit is the request's auto_commit_interval; committer commits
	// at it (nil when the client commits).
	autoCommit time.Duration
	committer  *autoCommitter
	failed     chan readerFailure
}

// memberPartition is the reader of one partition the member owns.
type memberPartition struct {
	p      group.Partition
	cursor *partitionCursor
	cancel context.CancelFunc
	done   chan struct{}
	// finished: without follow, it read up to its end (or its topic was
	// deleted).
	finished bool
}

// readerFailure is a partition reader's error.
type readerFailure struct {
	mp  *memberPartition
	err error
}

// delivered is what the stream delivered of the partitions it owned and
// of those taken away that the group may still wait on.
func (ms *memberStream) delivered() map[group.Partition]broker.Delivered {
	out := map[group.Partition]broker.Delivered{}
	for p, c := range ms.released {
		if c != nil {
			out[p] = c.deliveredRange()
		}
	}
	for p, mp := range ms.owned {
		out[p] = mp.cursor.deliveredRange()
	}
	return out
}

func (ms *memberStream) run(ctx context.Context, cancel context.CancelFunc, stream runnelv1.SubscribeService_SubscribeServer) error {
	sent := make(chan error, 1)
	go func() { sent <- ms.send(ctx, cancel, stream) }()
	err := ms.serve(ctx)
	for _, mp := range ms.owned {
		mp.cancel()
		<-mp.done
	}
	close(ms.out)
	if serr := <-sent; serr != nil {
		return serr
	}
	return err
}

// serve follows the member's view until the stream or membership ends.
func (ms *memberStream) serve(ctx context.Context) error {
	finished := make(chan *memberPartition, 1)
	var ticks <-chan time.Time // auto-commit's
	if ms.autoCommit > 0 {
		t := time.NewTicker(ms.autoCommit)
		defer t.Stop()
		ticks, ms.committer = t.C, newAutoCommitter(ms)
	}
	for {
		select {
		case <-ticks:
			if err := ms.committer.tick(ctx); err != nil {
				return err
			}
		case <-ms.member.Changed():
			if err := ms.apply(ctx, ms.member.View(), finished); err != nil {
				return err
			}
		case mp := <-finished:
			mp.finished = true
		case <-ms.member.Done():
			return ms.member.Err()
		case f := <-ms.failed:
			// NB: a topic deleted ends its partitions' readers, and the
			// group drops them at its next tick: not the stream's end.
			if _, err := ms.s.broker.Topic(f.mp.p.Topic); err == nil {
				return f.err
			}
			f.mp.finished = true
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ms.req.Follow && ms.caughtUp() {
			return nil
		}
	}
}

// caughtUp says whether, without follow, the stream is done: its whole
// target is owned and read to the end it had when assigned.
func (ms *memberStream) caughtUp() bool {
	if ms.told.MemberID == "" || ms.told.Pending > 0 {
		return false
	}
	for _, mp := range ms.owned {
		if !mp.finished {
			return false
		}
	}
	return true
}

// apply moves the stream to view v: it stops the readers of partitions
// taken away (their unsent batches are dropped), sends the event, and
// then starts the readers of partitions given.
func (ms *memberStream) apply(ctx context.Context, v group.View, finished chan<- *memberPartition) error {
	owned := map[group.Partition]bool{}
	for _, p := range v.Owned {
		owned[p] = true
	}
	var revoked []group.Partition
	var stopped []*partitionCursor
	for _, p := range slices.SortedFunc(maps.Keys(ms.owned), group.Compare) {
		if owned[p] {
			continue
		}
		mp := ms.owned[p]
		mp.cursor.revoked.Store(true)
		mp.cancel()
		<-mp.done
		delete(ms.owned, p)
		revoked = append(revoked, p)
		stopped = append(stopped, mp.cursor)
		ms.released[p] = mp.cursor
		if ms.committer != nil {
			ms.committer.revoke(p, mp.cursor)
		}
	}
	// NB: a partition the group gave and took back between two looks at
	// the view was never read here (an earlier stream of the member may
	// have: the broker knows).
	revoking := map[group.Partition]bool{}
	for _, p := range v.Revoking {
		revoking[p] = true
		if _, reported := ms.released[p]; !reported {
			ms.released[p] = nil
			ms.member.Stopped(p, broker.Delivered{NotRead: true})
		}
	}
	for p := range ms.released {
		if !revoking[p] && !slices.Contains(revoked, p) { // the group is done with it
			delete(ms.released, p)
		}
	}
	// NB: only what the client sees makes an event, not what the group
	// waits for (revocations, pending partitions).
	unchanged := len(revoked) == 0 && ms.told.MemberID != "" && v.MemberEpoch == ms.told.MemberEpoch &&
		v.GroupEpoch == ms.told.GroupEpoch && slices.Equal(v.Owned, ms.told.Owned)
	ms.told = v
	if unchanged {
		return nil
	}
	event, err := proto.Marshal(&runnelv1.SubscribeResponse{Assignment: &runnelv1.GroupAssignment{
		Group: ms.member.Group(), MemberId: v.MemberID, GroupEpoch: v.GroupEpoch, MemberEpoch: v.MemberEpoch,
		Partitions: byTopic(v.Owned), Revoked: byTopic(revoked),
	}})
	if err != nil {
		return err
	}
	// NB: once the event is sent, everything before it was: the offsets
	// delivered are final, and the group may move the partitions on.
	after := func() {
		for i, p := range revoked {
			ms.member.Stopped(p, stopped[i].deliveredRange())
		}
	}
	select {
	case ms.out <- response{msg: wire.Message(event), after: after}:
	case <-ms.member.Done():
		return ms.member.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, p := range v.Owned {
		if ms.owned[p] == nil {
			if err := ms.start(ctx, p, finished); err != nil {
				return err
			}
		}
	}
	return nil
}

// start begins reading a partition the member was given, at the group's
// committed offset (or the reset position).
func (ms *memberStream) start(ctx context.Context, p group.Partition, finished chan<- *memberPartition) error {
	pctx, cancel := context.WithCancel(ctx)
	mp := &memberPartition{p: p, cancel: cancel, done: make(chan struct{})}
	r, err := ms.s.broker.Reader(pctx, p.Topic, p.Partition)
	nr, relayed := errors.AsType[*broker.NotReplicatedError](err)
	if err != nil && !relayed {
		cancel()
		return err
	}
	var run func() error
	if relayed {
		// NB: the coordinator's offsets are the group's latest: the
		// replica is told the offset rather than asked for the group's.
		sub, err := ms.relayRequest(p)
		if err != nil {
			cancel()
			return err
		}
		mp.cursor = &partitionCursor{}
		mp.cursor.from = sub.StartOffset
		run = func() error {
			err := ms.s.relay(pctx, sub, nr, ms.budget, ms.out, mp.cursor)
			if outOfRange(err) && sub.StartPosition == runnelv1.StartPosition_START_POSITION_OFFSET &&
				mp.cursor.delivered.Load() == mp.cursor.from {
				// NB: retention deleted what the group had not read: go on
				// at the log start, as a local reader does (GroupStart).
				sub.StartPosition, sub.StartOffset = runnelv1.StartPosition_START_POSITION_EARLIEST, 0
				return ms.s.relay(pctx, sub, nr, ms.budget, ms.out, mp.cursor)
			}
			return err
		}
	} else {
		next, err := r.GroupStart(pctx, ms.req.Group, ms.reset)
		if err != nil {
			cancel()
			return err
		}
		mp.cursor = &partitionCursor{reader: r, next: next, end: r.HighWatermark(), oldest: next == r.LogStartOffset(), from: next}
		run = func() error { return ms.s.follow(pctx, ms.req, mp.cursor, ms.maxBytes, ms.budget, ms.out) }
	}
	mp.cursor.delivered.Store(mp.cursor.from)
	ms.owned[p] = mp
	delete(ms.released, p)
	if ms.committer != nil {
		ms.committer.restart(p)
	}
	go func() {
		defer close(mp.done)
		err := run()
		switch {
		case err == nil:
			select {
			case finished <- mp:
			case <-pctx.Done():
			}
		case pctx.Err() == nil:
			select {
			case ms.failed <- readerFailure{mp, err}:
			case <-pctx.Done():
			}
		}
	}()
	return nil
}

// relayRequest is the subscription a replica serves for a partition this
// broker does not replicate: from the group's committed offset, or the
// reset position.
func (ms *memberStream) relayRequest(p group.Partition) (*runnelv1.SubscribeRequest, error) {
	sub := &runnelv1.SubscribeRequest{Topic: p.Topic, Partitions: []int32{p.Partition}, Follow: ms.req.Follow,
		MaxBatchBytes: ms.req.MaxBatchBytes, StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST,
		AcceptCompression: ms.req.AcceptCompression}
	if ms.reset == broker.StartLatest {
		sub.StartPosition = runnelv1.StartPosition_START_POSITION_LATEST
	}
	committed, err := ms.s.broker.Committed(ms.req.Group, p.Topic)
	if err != nil {
		return nil, err
	}
	if o, ok := committed[p.Partition]; ok {
		sub.StartPosition, sub.StartOffset = runnelv1.StartPosition_START_POSITION_OFFSET, o
	}
	return sub, nil
}

// send writes out to the stream in order. A batch of a partition the
// group took away is dropped, and everything once the membership ended
// (the group may have given its partitions to others); each batch sent
// moves its partition's delivered offset.
//
// A response sent waits out its throttle (the subscriber's consume quota)
// before the next; one past the quota's limit ends the stream.
func (ms *memberStream) send(ctx context.Context, cancel context.CancelFunc, stream runnelv1.SubscribeService_SubscribeServer) error {
	var err error
	for r := range ms.out {
		var throttle time.Duration
		if err == nil && !ms.ended() && (r.cursor == nil || !r.cursor.revoked.Load()) {
			if throttle, err = ms.s.quotas.take(ctx, quota.Consume, len(r.msg)); err == nil {
				err = stream.SendMsg(r.msg)
			}
			if err != nil {
				cancel()
			} else {
				ms.sent(r)
			}
		}
		r.held.release()
		pause(ctx, ms.s.stopping, throttle)
	}
	return toStatus(err)
}

// ended says whether the membership ended.
func (ms *memberStream) ended() bool {
	select {
	case <-ms.member.Done():
		return true
	default:
		return false
	}
}

// sent records what a response delivered.
func (ms *memberStream) sent(r response) {
	if r.after != nil {
		r.after()
	}
	if r.cursor == nil {
		return
	}
	next := r.next
	if next < 0 { // relayed: the batch says
		var resp runnelv1.SubscribeResponse
		if proto.Unmarshal(r.msg, &resp) != nil || len(resp.GetBatch().GetRecords()) == 0 {
			return
		}
		recs := resp.Batch.Records
		next = recs[len(recs)-1].Offset + 1
	}
	r.cursor.delivered.Store(next)
}

// relayMember passes a member's stream through to the group's
// coordinator, which this broker is not. The relayed stream ends when the
// client's does; if the client's connection was lost, the coordinator is
// told first, so that it keeps the member for the session timeout as it
// would a member of its own.
func (s *subscribeService) relayMember(ctx context.Context, req *runnelv1.SubscribeRequest, nc *broker.NotCoordinatorError, stream runnelv1.SubscribeService_SubscribeServer, maxBytes int) error {
	s.metrics.forwardedCalls.WithLabelValues("subscribe").Inc()
	upCtx, upCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer upCancel()
	var memberID atomic.Value // string: from the first assignment event
	stop := context.AfterFunc(ctx, func() {
		// NB: this broker shutting down is no leave either: the member
		// comes back through another.
		if id, _ := memberID.Load().(string); id != "" && (s.conns.lost(ctx) || s.stopping.Err() != nil) {
			err := s.peers.MemberLost(upCtx, nc.Coordinator.PeerAddress, &raftv1.MemberLostRequest{Group: req.Group, MemberId: id})
			if err != nil {
				s.metrics.forwardedFailure.WithLabelValues("subscribe").Inc()
			}
		}
		upCancel()
	})
	defer stop()
	upstream, err := s.peers.Subscribe(upCtx, nc.Coordinator.PeerAddress, req)
	if err != nil {
		s.metrics.forwardedFailure.WithLabelValues("subscribe").Inc()
		return err
	}
	budget := s.budget.stream(min(s.streamBytes, 2*int64(maxBytes)))
	for {
		var msg wire.Message
		err := upstream.RecvMsg(&msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() == nil {
				s.metrics.forwardedFailure.WithLabelValues("subscribe").Inc()
			}
			if s.stopping.Err() != nil && stream.Context().Err() == nil {
				return toStatus(errs.Newf(broker.ErrUnavailable, "the broker relaying this group member's stream is shutting down: subscribe again, with member_id, through another"))
			}
			return err
		}
		if memberID.Load() == nil {
			var first runnelv1.SubscribeResponse
			if err := proto.Unmarshal(msg, &first); err == nil && first.Assignment != nil {
				memberID.Store(first.Assignment.MemberId)
			}
		}
		held, err := budget.acquire(ctx, int64(cap(msg)))
		if err != nil {
			return err
		}
		throttle, err := s.quotas.take(ctx, quota.Consume, len(msg))
		if err == nil {
			err = stream.SendMsg(msg)
		}
		held.release()
		if err != nil {
			return toStatus(err)
		}
		pause(ctx, s.stopping, throttle) // NB: before the next response
	}
}

// byTopic groups partitions by topic, in order.
func byTopic(ps []group.Partition) []*runnelv1.TopicPartitions {
	var out []*runnelv1.TopicPartitions
	for _, p := range ps {
		if len(out) == 0 || out[len(out)-1].Topic != p.Topic {
			out = append(out, &runnelv1.TopicPartitions{Topic: p.Topic})
		}
		last := out[len(out)-1]
		last.Partitions = append(last.Partitions, p.Partition)
	}
	return out
}
