package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// Consumer reads records, as a member of a consumer group (WithGroup and
// WithTopics) or from partitions it was given (WithAssignment). Iterate
// Records, or call Poll, to read; one at a time.
//
// # Group members
//
// A member's partitions are assigned on the brokers (Kafka's KIP-848
// model): the consumer holds one Subscribe stream to the group's
// coordinator, which carries the member's assignment changes in order with
// the batches of its partitions. The Records loop runs OnAssigned and
// OnRevoked between records, as Kafka's poll runs its rebalance listener,
// so iterate Records to take part: a partition taken away moves to its
// new owner once the consumer has committed what the broker sent it of it
// (auto-commit does so as soon as the loop reaches the change), or after
// the group's rebalance timeout, which also removes the member.
//
// # Positions and commits
//
// Each partition has a position: the offset after the last record
// Records returned. Commit commits the positions; auto-commit (the
// default, every 5s) commits in the background the offsets of the records
// whose loop body has returned, so a record is committed only once the
// application is done with it (at least once). A body that breaks out of
// the loop is done with its record.
//
// Within one Consumer, Records returns each partition's records in offset
// order, none twice and none skipped (unless retention deleted them
// first, which is logged), across broken streams, broker restarts and
// re-attaching to the group: a read that restarts begins at the offset
// after the last record the consumer received, or, for a member, at the
// group's committed offset, and the records the consumer had already
// returned are dropped. A partition that moves to another member is read
// there from the group's committed offset: what this consumer returned
// after its last commit is read again (at least once).
//
// # Seek and pause
//
// Seek and Pause act per partition. A partition read on its own
// (WithAssignment) has its own stream, which a seek replaces and a pause
// ends. A group member's partitions all come on the member stream, which
// reads them from the committed offset: a seek, or a resume after a pause,
// reads the partition on a stream of its own from the new position, while
// the member stream's batches of it are dropped, until the member
// stream's batches reach the position, when it serves the partition again
// and the partition's own stream ends. A paused partition's batches are
// dropped as they come, so a pause holds no memory; its position stays.
//
// Caveat: a partition the group takes away while paused, or while its
// own stream is behind the member stream, has been sent more than the
// consumer returned; committing its position does not release it then
// (the broker waits for a commit of what it sent, so that the next owner
// does not read it twice at once), and it moves after the group's
// rebalance timeout, which removes the member (it re-joins by itself).
type Consumer struct {
	c      *Client
	o      consumerOptions
	member bool // WithGroup + WithTopics

	ctx       context.Context // the consumer's life; Close cancels it
	cancel    context.CancelFunc
	events    chan event // every read's batches and the member's assignments, bounded
	wg        sync.WaitGroup
	iterating atomic.Bool

	mu     sync.Mutex
	closed bool
	fatal  error // the member stream's end: the consumer can read no more
	// memberEnded: WithStopAtEnd, the member stream read to its end.
	memberEnded bool
	parts       map[topicPartition]*partState
	memberID    string
	epoch       int32
	// pending is the rest of the batch a loop that ended was returning:
	// the next loop starts with it.
	pending *event
	// polled is what the last Poll returned, finished with at the next;
	// polling is set during a Poll (read by the one loop running).
	polled  map[topicPartition]polledDone
	polling bool
}

// partState is one partition the consumer reads; under Consumer.mu.
type partState struct {
	// pos is the offset after the last record returned (or where the
	// read starts before any): -1 until the first batch says.
	pos int64
	// done is the offset after the last record whose loop body
	// returned: what auto-commit commits. -1 as pos.
	done int64
	// committed is what this consumer last committed there (-1: none).
	committed int64
	// start is where the member stream started the partition (the
	// group's committed offset then, or the reset offset); -1 until its
	// first batch.
	start  int64
	paused bool
	// gen moves on every seek, pause and revocation: a batch being
	// returned stops there.
	gen uint64
	// src is the partition's own read; nil for a member's partition the
	// member stream serves.
	src *source
	// spec is where a new read of the partition starts while pos is
	// unknown (zero: the group's committed offset).
	spec startSpec
}

// startSpec is where a read starts.
type startSpec struct {
	pos    runnelv1.StartPosition
	offset int64
	time   time.Time
}

// event is what a read hands the Records loop: a batch, an assignment
// (the member stream's), or the read's end: an error, or, without
// follow, ended.
type event struct {
	src    *source // nil: the member stream
	batch  *runnelv1.RecordBatch
	assign *runnelv1.GroupAssignment
	err    error
	ended  bool
}

// PartitionError is the end of one partition's read, with the broker's
// status (OUT_OF_RANGE: a Seek past the log's ends; NOT_FOUND: the topic
// was deleted). Seek or Resume the partition to read it again.
type PartitionError struct {
	Topic     string
	Partition int32
	Err       error
}

func (e *PartitionError) Error() string {
	return fmt.Sprintf("runnel: reading %s/%d: %v", e.Topic, e.Partition, e.Err)
}

func (e *PartitionError) Unwrap() error { return e.Err }

// ErrNoGroup is returned by commits of a consumer made without WithGroup.
var ErrNoGroup = errors.New("client: the consumer has no group to commit to (WithGroup)")

// Consumer makes a consumer; ctx bounds its setup (metadata, committed
// offsets), not its life, which ends with Close. It needs either
// WithGroup and WithTopics (a group member) or WithAssignment.
func (c *Client) Consumer(ctx context.Context, opts ...ConsumerOption) (*Consumer, error) {
	o := defaultConsumerOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	k := &Consumer{c: c, o: o, member: len(o.topics) > 0, ctx: cctx, cancel: cancel,
		events: make(chan event, 4), parts: map[topicPartition]*partState{}, polled: map[topicPartition]polledDone{}}
	if k.member {
		k.wg.Add(1)
		go func() { defer k.wg.Done(); k.runMember(cctx) }()
	} else if err := k.assign(ctx); err != nil {
		cancel()
		return nil, err
	}
	if o.group != "" && o.autoCommit > 0 {
		k.wg.Add(1)
		go func() { defer k.wg.Done(); k.autoCommit(cctx) }()
	}
	return k, nil
}

func (o *consumerOptions) validate() error {
	switch {
	case len(o.topics) > 0 && o.group == "":
		return errors.New("client: WithTopics subscribes a group member: add WithGroup, or name partitions with WithAssignment")
	case len(o.topics) > 0 && o.assignment != nil:
		return errors.New("client: WithTopics (group membership) and WithAssignment (manual) exclude each other")
	case len(o.topics) == 0 && len(o.assignment) == 0:
		return errors.New("client: a consumer needs WithGroup and WithTopics, or WithAssignment")
	case o.instanceID != "" && len(o.topics) == 0:
		return errors.New("client: WithInstanceID is for a group member (WithGroup and WithTopics)")
	case o.maxBytes < 0:
		return fmt.Errorf("client: WithFetchMaxBytes(%d): use a positive size", o.maxBytes)
	case o.reset != ResetEarliest && o.reset != ResetLatest:
		return fmt.Errorf("client: WithResetOffset(%d): use ResetEarliest or ResetLatest", o.reset)
	}
	for _, t := range o.topics {
		if t == "" {
			return errors.New("client: WithTopics names an empty topic")
		}
	}
	for t, ps := range o.assignment {
		if t == "" {
			return errors.New("client: WithAssignment names an empty topic")
		}
		for _, p := range ps {
			if p < 0 {
				return fmt.Errorf("client: WithAssignment: topic %q partition %d: partitions start at 0", t, p)
			}
		}
	}
	return nil
}

func (o *consumerOptions) resetSpec() startSpec {
	if o.reset == ResetLatest {
		return startSpec{pos: runnelv1.StartPosition_START_POSITION_LATEST}
	}
	return startSpec{pos: runnelv1.StartPosition_START_POSITION_EARLIEST}
}

// assign starts the partitions of WithAssignment: at the group's
// committed offset, if any, else at the reset offset.
func (k *Consumer) assign(ctx context.Context) error {
	for _, topic := range slices.Sorted(maps.Keys(k.o.assignment)) {
		meta, err := k.c.topic(ctx, topic, false)
		if err != nil {
			return fmt.Errorf("client: consumer: topic %q: %w", topic, err)
		}
		n := int32(len(meta.partitions))
		ps := slices.Compact(slices.Sorted(slices.Values(k.o.assignment[topic])))
		if len(ps) == 0 {
			for p := range n {
				ps = append(ps, p)
			}
		}
		if last := ps[len(ps)-1]; last >= n {
			return fmt.Errorf("client: consumer: topic %q has partitions 0 to %d, not %d", topic, n-1, last)
		}
		committed := map[int32]int64{}
		if k.o.group != "" {
			var resp *runnelv1.FetchCommittedResponse
			err := k.call(ctx, func(ctx context.Context, cl *brokerStubs) (err error) {
				resp, err = cl.commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: k.o.group, Topic: topic})
				return err
			})
			if err != nil {
				return fmt.Errorf("client: consumer: committed offsets of group %q in %q: %w", k.o.group, topic, err)
			}
			for _, po := range resp.Offsets {
				committed[po.Partition] = po.Offset
			}
		}
		k.mu.Lock()
		for _, p := range ps {
			spec := k.o.resetSpec()
			if o, ok := committed[p]; ok {
				spec = startSpec{pos: runnelv1.StartPosition_START_POSITION_OFFSET, offset: o}
			}
			st := &partState{pos: -1, done: -1, committed: -1, start: -1, spec: spec}
			if o, ok := committed[p]; ok {
				st.committed = o
			}
			tp := topicPartition{topic, p}
			k.parts[tp] = st
			k.startReadLocked(tp, st, spec)
		}
		k.mu.Unlock()
	}
	return nil
}

// Records iterates over the consumer's records, each partition's in
// offset order, waiting for more when it has returned all there are. It
// ends when ctx is done or the consumer is closed (with no error), or,
// for a group member, when membership fails for good (the error is
// yielded: a closed or refused group, an instance id another member
// holds). A partition whose read failed for good yields a
// *PartitionError and the loop goes on with the others. Reads that break
// (UNAVAILABLE, a broker killed) restart by themselves, logged. With
// WithStopAtEnd it ends, with no error, once every read has reached its
// end and the records before it were returned.
//
// Records may be iterated again after a loop ended: it goes on where the
// last loop stopped. Only one loop at a time.
func (k *Consumer) Records(ctx context.Context) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		if !k.iterating.CompareAndSwap(false, true) {
			yield(nil, errBusy)
			return
		}
		defer k.iterating.Store(false)
		k.applyPolled()
		for k.step(ctx, yield, true) {
		}
	}
}

// errBusy is returned when Records or Poll is called while another runs.
var errBusy = errors.New("client: Consumer.Records or Poll is already running: one at a time")

// Poll returns the records that are ready, up to max (0: no limit),
// waiting until there is one, ctx is done (its error) or the consumer is
// closed (ErrClosed), or, WithStopAtEnd, until every read has reached its
// end (io.EOF), as Kafka's poll and franz-go's PollRecords. The
// records Poll returns count as finished with (auto-commit commits them)
// at the next Poll or Records, or Close, as Kafka's auto-commit does; a
// read error comes with the records before it. Poll and Records read the
// same positions: use either, one at a time.
func (k *Consumer) Poll(ctx context.Context, max int) ([]*Record, error) {
	if !k.iterating.CompareAndSwap(false, true) {
		return nil, errBusy
	}
	defer k.iterating.Store(false)
	k.applyPolled()
	var out []*Record
	var failed error
	yield := func(r *Record, err error) bool {
		if err != nil {
			failed = err
			return false
		}
		out = append(out, r)
		return max <= 0 || len(out) < max
	}
	k.polling = true
	defer func() { k.polling = false }()
	for block := true; failed == nil && (max <= 0 || len(out) < max); block = len(out) == 0 {
		if !k.step(ctx, yield, block) {
			break
		}
	}
	k.mu.Lock()
	ended := k.endedLocked()
	k.mu.Unlock()
	switch {
	case len(out) > 0 || failed != nil:
		return out, failed
	case ended:
		return nil, io.EOF
	case k.ctx.Err() != nil:
		return nil, ErrClosed
	}
	return nil, ctx.Err()
}

// applyPolled marks what the last Poll returned as finished with.
func (k *Consumer) applyPolled() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for tp, p := range k.polled {
		if k.parts[tp] == p.st && p.st.gen == p.gen {
			p.st.done = p.done
		}
	}
	clear(k.polled)
}

// polledDone is what a Poll returned of a partition.
type polledDone struct {
	st   *partState
	gen  uint64
	done int64
}

// step passes the loop the next event, waiting for one if block (else
// false when none is ready); false: the loop ended.
func (k *Consumer) step(ctx context.Context, yield func(*Record, error) bool, block bool) bool {
	k.mu.Lock()
	fatal := k.fatal
	ended := k.endedLocked()
	pending := k.pending
	k.pending = nil
	k.mu.Unlock()
	if fatal != nil {
		yield(nil, fatal)
		return false
	}
	if ended {
		return false
	}
	if ctx.Err() != nil || k.ctx.Err() != nil {
		return false
	}
	if pending != nil {
		return k.handle(ctx, *pending, yield)
	}
	if !block {
		select {
		case ev := <-k.events:
			return k.handle(ctx, ev, yield)
		default:
			return false
		}
	}
	select {
	case ev := <-k.events:
		return k.handle(ctx, ev, yield)
	case <-ctx.Done():
		return false
	case <-k.ctx.Done():
		return false
	}
}

// endedLocked says whether, WithStopAtEnd, every read has reached its
// end and what they sent was returned: the member stream (a member's)
// and every partition's own read. A partition whose read failed has no
// read either (its error was yielded); a paused one has not ended.
func (k *Consumer) endedLocked() bool {
	if !k.o.stopAtEnd || k.pending != nil || (k.member && !k.memberEnded) {
		return false
	}
	for _, st := range k.parts {
		if st.src != nil || st.paused {
			return false
		}
	}
	return true
}

// handle passes one event to the loop; false: the loop ended.
func (k *Consumer) handle(ctx context.Context, ev event, yield func(*Record, error) bool) bool {
	switch {
	case ev.ended && ev.src == nil:
		k.mu.Lock()
		k.memberEnded = true
		k.mu.Unlock()
		return true
	case ev.ended:
		k.mu.Lock()
		if st := k.parts[ev.src.tp]; st != nil && st.src == ev.src {
			st.src = nil
		}
		k.mu.Unlock()
		return true
	case ev.err != nil && ev.src == nil:
		k.mu.Lock()
		k.fatal = ev.err
		k.mu.Unlock()
		yield(nil, ev.err)
		return false
	case ev.err != nil:
		k.mu.Lock()
		st := k.parts[ev.src.tp]
		current := st != nil && st.src == ev.src
		if current {
			st.src = nil
		}
		k.mu.Unlock()
		if !current {
			return true
		}
		return yield(nil, ev.err)
	case ev.assign != nil:
		k.reassign(ctx, ev.assign)
		return true
	case ev.batch != nil:
		return k.yieldBatch(ev, yield)
	}
	return true
}

// reassign applies a member's new assignment: revoked partitions first
// (OnRevoked, then the commit), then the partitions given (OnAssigned).
func (k *Consumer) reassign(ctx context.Context, a *runnelv1.GroupAssignment) {
	now := map[topicPartition]bool{}
	for _, tps := range a.Partitions {
		for _, p := range tps.Partitions {
			now[topicPartition{tps.Topic, p}] = true
		}
	}
	k.mu.Lock()
	k.memberID, k.epoch = a.MemberId, a.MemberEpoch
	var revoked, assigned []topicPartition
	for tp := range k.parts {
		if !now[tp] {
			revoked = append(revoked, tp)
		}
	}
	for tp := range now {
		if k.parts[tp] == nil {
			assigned = append(assigned, tp)
			k.parts[tp] = &partState{pos: -1, done: -1, committed: -1, start: -1}
		}
	}
	for _, tp := range revoked {
		// NB: nothing more of it is returned, from this batch on.
		k.parts[tp].gen++
	}
	k.mu.Unlock()
	k.c.opts.logger.Debug("runnel consumer: assignment", "group", k.o.group, "member", a.MemberId, "epoch", a.MemberEpoch,
		"partitions", len(now), "assigned", len(assigned), "revoked", len(revoked))
	if len(revoked) > 0 {
		if fn := k.o.onRevoked; fn != nil {
			fn(ctx, byTopicMap(revoked))
		}
		if k.o.autoCommit > 0 {
			if err := k.commitParts(ctx, revoked, false); err != nil {
				k.c.opts.logger.Warn("runnel consumer: commit of revoked partitions", "group", k.o.group, "err", err)
			}
		}
		k.mu.Lock()
		for _, tp := range revoked {
			if st := k.parts[tp]; st != nil && st.src != nil {
				st.src.cancel()
			}
			delete(k.parts, tp)
		}
		k.mu.Unlock()
	}
	if len(assigned) > 0 {
		if fn := k.o.onAssigned; fn != nil {
			fn(ctx, byTopicMap(assigned))
		}
	}
	// NB: not the empty assignment a removed member's partitions end
	// with: the broker sent none.
	if fn := k.o.onAssignment; fn != nil && a.MemberId != "" {
		fn(ctx, a)
	}
}

// yieldBatch returns a batch's records the consumer has not returned yet;
// false: the loop ended.
func (k *Consumer) yieldBatch(ev event, yield func(*Record, error) bool) bool {
	b := ev.batch
	tp := topicPartition{b.Topic, b.Partition}
	first, last := b.Records[0].Offset, b.Records[len(b.Records)-1].Offset
	k.mu.Lock()
	st := k.parts[tp]
	if st == nil || st.paused {
		k.mu.Unlock()
		return true
	}
	if ev.src != nil && st.src != ev.src {
		k.mu.Unlock()
		return true // a read since replaced
	}
	if ev.src == nil && st.start < 0 {
		st.start = first
	}
	if ev.src == nil && st.src != nil {
		// NB: the member stream takes the partition back from its own
		// read once a batch of it reaches the position: its next batches
		// go on from there.
		if st.pos < 0 || first > st.pos || last+1 < st.pos {
			k.mu.Unlock()
			return true
		}
		st.src.cancel()
		st.src = nil
		k.c.opts.logger.Debug("runnel consumer: the member stream serves the partition again", "topic", tp.topic, "partition", tp.partition, "at", st.pos)
	}
	if st.pos >= 0 && first > st.pos {
		k.c.opts.logger.Warn("runnel consumer: records missing, deleted by retention or consumed by another member", "topic", tp.topic,
			"partition", tp.partition, "expected", st.pos, "got", first)
	}
	if st.pos < 0 {
		st.pos = first
	}
	if st.done < 0 {
		st.done = st.pos
	}
	gen := st.gen
	k.mu.Unlock()
	for i, r := range b.Records {
		k.mu.Lock()
		if k.parts[tp] != st || st.gen != gen || k.ctx.Err() != nil {
			k.mu.Unlock()
			return k.ctx.Err() == nil
		}
		if r.Offset < st.pos {
			k.mu.Unlock()
			continue
		}
		st.pos = r.Offset + 1
		k.mu.Unlock()
		ok := yield(decode(b.Topic, b.Partition, r), nil)
		k.mu.Lock()
		if k.polling {
			k.polled[tp] = polledDone{st: st, gen: gen, done: r.Offset + 1}
		} else if k.parts[tp] == st && st.gen == gen {
			st.done = r.Offset + 1
		}
		k.mu.Unlock()
		if !ok {
			if rest := b.Records[i+1:]; len(rest) > 0 {
				k.mu.Lock()
				k.pending = &event{src: ev.src, batch: &runnelv1.RecordBatch{Topic: b.Topic, Partition: b.Partition,
					Records: rest, HighWatermark: b.HighWatermark}}
				k.mu.Unlock()
			}
			return false
		}
	}
	return true
}

// Assigned returns the partitions the consumer reads now, by topic.
func (k *Consumer) Assigned() map[string][]int32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return byTopicMap(slices.Collect(maps.Keys(k.parts)))
}

// MemberID is the consumer's member id in its group ("" before the first
// assignment, or without membership).
func (k *Consumer) MemberID() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.memberID
}

// Position is the offset after the last record Records returned of a
// partition (or where its read starts), and false when the consumer does
// not read it or does not know yet.
func (k *Consumer) Position(topic string, partition int32) (int64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.parts[topicPartition{topic, partition}]
	if st == nil || st.pos < 0 {
		return 0, false
	}
	return st.pos, true
}

// Close commits what the Records loop finished with (with auto-commit),
// then ends the consumer's reads: a group member leaves its group, and its
// partitions move to the other members at once (a static member, with
// WithInstanceID, keeps them for the session timeout instead). A Records
// loop running ends after its current record. Close does not close the
// Client.
func (k *Consumer) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	k.mu.Unlock()
	k.applyPolled()
	ctx, cancel := context.WithTimeout(context.Background(), k.c.opts.requestTimeout)
	defer cancel()
	var err error
	if k.o.group != "" && k.o.autoCommit > 0 {
		err = k.commitParts(ctx, nil, true)
	}
	k.cancel()
	k.wg.Wait()
	if k.member && k.o.instanceID == "" {
		k.learnStarts()
		k.settleLeave(ctx)
	}
	return err
}

// learnStarts reads the batches waiting for the Records loop, without
// returning them, for where the member stream started the partitions
// the loop has not reached yet: committing there as the consumer leaves
// releases them at once (see settleLeave).
func (k *Consumer) learnStarts() {
	k.mu.Lock()
	k.pending = nil // NB: its partition's position is known
	k.mu.Unlock()
	for {
		select {
		case ev := <-k.events:
			if ev.batch == nil || ev.src != nil {
				continue
			}
			k.mu.Lock()
			if st := k.parts[topicPartition{ev.batch.Topic, ev.batch.Partition}]; st != nil && st.start < 0 {
				st.start = ev.batch.Records[0].Offset
			}
			k.mu.Unlock()
		default:
			return
		}
	}
}

// settleLeave commits again once the coordinator knows the member left:
// a leaving member's partitions, sent past the committed offset, move on
// at its next commit (the broker waits for it, so that the next owner
// does not read what this one was still processing); a commit made before
// the broker saw the leave does not count for that. It commits, per
// partition, what auto-commit would have (what the loop finished with),
// or, committing by hand, what the consumer last committed, or else
// where the member stream started it: the same offset as the group's,
// which moves nothing but lets the partition go.
func (k *Consumer) settleLeave(ctx context.Context) {
	k.mu.Lock()
	id := k.memberID
	final := map[topicPartition]int64{}
	for tp, st := range k.parts {
		o := st.committed
		if k.o.autoCommit > 0 && st.done >= 0 {
			o = st.done
		}
		if o < 0 {
			o = st.start
		}
		if o >= 0 {
			final[tp] = o
		}
	}
	k.mu.Unlock()
	if id == "" || len(final) == 0 {
		return
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var resp *runnelv1.DescribeGroupResponse
		err := k.call(ctx, func(ctx context.Context, cl *brokerStubs) (err error) {
			resp, err = cl.admin.DescribeGroup(ctx, &runnelv1.DescribeGroupRequest{Group: k.o.group})
			return err
		})
		if err != nil {
			k.c.opts.logger.Warn("runnel consumer: describe group after leaving", "group", k.o.group, "err", err)
			return
		}
		var me *runnelv1.GroupMemberInfo
		for _, m := range resp.GetGroup().GetMembers() {
			if m.MemberId == id {
				me = m
			}
		}
		if me == nil {
			return
		}
		if !me.Connected {
			err := k.commitOffsets(ctx, final)
			if status.Code(err) == codes.FailedPrecondition {
				return // gone, or what it held has moved
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			k.c.opts.logger.Warn("runnel consumer: the group still holds partitions for this member after it left", "group", k.o.group, "member", id)
			return
		}
	}
}

// byTopicMap groups partitions by topic, sorted.
func byTopicMap(tps []topicPartition) map[string][]int32 {
	out := map[string][]int32{}
	for _, tp := range tps {
		out[tp.topic] = append(out[tp.topic], tp.partition)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// decode makes a returned record.
func decode(topic string, partition int32, r *runnelv1.Record) *Record {
	rec := &Record{Topic: topic, Partition: &partition, Offset: r.Offset, Key: r.Key, Value: r.Value}
	if r.Timestamp != nil {
		rec.Timestamp = r.Timestamp.AsTime()
	}
	for _, h := range r.Headers {
		rec.Headers = append(rec.Headers, Header{Key: h.Key, Value: h.Value})
	}
	return rec
}
