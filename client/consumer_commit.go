package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// Commit commits the position of every partition the consumer reads: the
// offset after the last record Records returned there (Kafka's
// CommitUncommittedOffsets), as the group member it is, so that a
// partition the group gave to another member meanwhile is refused
// (FAILED_PRECONDITION) rather than moved back. It returns once the
// commit is durable.
func (k *Consumer) Commit(ctx context.Context) error {
	return k.commitParts(ctx, nil, false)
}

// CommitRecords commits, per partition, the offset after the highest
// record of recs there (Kafka's CommitRecords), whether or not the
// consumer still reads it; fenced as Commit is.
func (k *Consumer) CommitRecords(ctx context.Context, recs ...*Record) error {
	if k.o.group == "" {
		return ErrNoGroup
	}
	next := map[topicPartition]int64{}
	for _, r := range recs {
		if r == nil || r.Partition == nil || r.Topic == "" {
			return errors.New("client: CommitRecords takes records Records returned (topic and partition set)")
		}
		tp := topicPartition{r.Topic, *r.Partition}
		if o, ok := next[tp]; !ok || r.Offset+1 > o {
			next[tp] = r.Offset + 1
		}
	}
	return k.commitOffsets(ctx, next)
}

// commitParts commits the positions (done: what the loop finished with)
// of tps, or of every partition read.
func (k *Consumer) commitParts(ctx context.Context, tps []topicPartition, done bool) error {
	if k.o.group == "" {
		return ErrNoGroup
	}
	k.mu.Lock()
	if tps == nil {
		tps = slices.Collect(maps.Keys(k.parts))
	}
	next := map[topicPartition]int64{}
	for _, tp := range tps {
		st := k.parts[tp]
		if st == nil {
			continue
		}
		o := st.pos
		if done {
			o = st.done
		}
		if o >= 0 && o != st.committed {
			next[tp] = o
		}
	}
	k.mu.Unlock()
	return k.commitOffsets(ctx, next)
}

// commitOffsets commits next, one request per topic.
func (k *Consumer) commitOffsets(ctx context.Context, next map[topicPartition]int64) error {
	if len(next) == 0 {
		return nil
	}
	k.mu.Lock()
	id, epoch := k.memberID, k.epoch
	k.mu.Unlock()
	if k.member && id == "" {
		return errors.New("client: the consumer has not joined its group yet: nothing to commit")
	}
	byTopic := map[string][]*runnelv1.PartitionOffset{}
	for tp, o := range next {
		byTopic[tp.topic] = append(byTopic[tp.topic], &runnelv1.PartitionOffset{Partition: tp.partition, Offset: o})
	}
	var errs []error
	for _, topic := range slices.Sorted(maps.Keys(byTopic)) {
		offsets := byTopic[topic]
		slices.SortFunc(offsets, func(a, b *runnelv1.PartitionOffset) int { return int(a.Partition - b.Partition) })
		req := &runnelv1.CommitRequest{Group: k.o.group, Topic: topic, Offsets: offsets, MemberId: id, MemberEpoch: epoch}
		err := k.call(ctx, func(ctx context.Context, cl *brokerStubs) error {
			_, err := cl.commit.Commit(ctx, req)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("commit %s of group %q: %w", topic, k.o.group, err))
			continue
		}
		k.mu.Lock()
		for _, po := range offsets {
			if st := k.parts[topicPartition{topic, po.Partition}]; st != nil {
				st.committed = po.Offset
			}
		}
		k.mu.Unlock()
	}
	return errors.Join(errs...)
}

// autoCommit commits, at the interval, what the loop finished with.
func (k *Consumer) autoCommit(ctx context.Context) {
	t := time.NewTicker(k.o.autoCommit)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := k.commitParts(ctx, nil, true); err != nil && ctx.Err() == nil {
			// NB: a partition revoked meanwhile is refused; its
			// assignment event is on its way to the loop.
			k.c.opts.logger.Info("runnel consumer: auto-commit", "group", k.o.group, "err", err)
		}
	}
}

// brokerStubs are the stubs of one broker.
type brokerStubs struct {
	addr   string
	commit runnelv1.CommitServiceClient
	admin  runnelv1.AdminServiceClient
}

// call runs fn against the brokers the client knows, bootstrap first,
// moving to the next one on UNAVAILABLE or a timeout (any broker forwards
// to the group's coordinator), for up to two rounds. Each try is bounded
// by the request timeout.
func (k *Consumer) call(ctx context.Context, fn func(context.Context, *brokerStubs) error) error {
	var errs []error
	b := newBackoff()
	for round := range 2 {
		for _, addr := range k.c.candidates() {
			conn, err := k.c.connTo(addr)
			if err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, k.c.opts.requestTimeout)
			err = fn(rctx, &brokerStubs{addr: addr, commit: runnelv1.NewCommitServiceClient(conn), admin: runnelv1.NewAdminServiceClient(conn)})
			cancel()
			if err == nil || !retriableCall(err) || ctx.Err() != nil {
				return err
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
		if round == 0 && !b.wait(ctx) {
			break
		}
	}
	return errors.Join(errs...)
}

func retriableCall(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// Pause stops returning the partitions' records (all the topic's
// partitions the consumer reads when none is named), as franz-go's
// PauseFetchPartitions: their reads stop, or, for a group member's
// partition the member stream serves, its batches are dropped as they
// come, and Resume reads on from the position. The partitions stay
// assigned.
func (k *Consumer) Pause(topic string, partitions ...int32) error {
	return k.each(topic, partitions, func(tp topicPartition, st *partState) {
		st.paused = true
		st.gen++
		k.stopReadLocked(st)
	})
}

// Resume returns the partitions' records again, from their positions.
func (k *Consumer) Resume(topic string, partitions ...int32) error {
	return k.each(topic, partitions, func(tp topicPartition, st *partState) {
		if !st.paused {
			return
		}
		st.paused = false
		st.gen++
		k.restartLocked(tp, st)
	})
}

// Paused says which partitions are paused, by topic.
func (k *Consumer) Paused() map[string][]int32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	var tps []topicPartition
	for tp, st := range k.parts {
		if st.paused {
			tps = append(tps, tp)
		}
	}
	return byTopicMap(tps)
}

// Seek makes the partition's next record the one at offset (Kafka's
// seek, franz-go's SetOffsets): the next Commit commits it. The offset
// must lie within the partition's log (from its log start to its high
// watermark, inclusive), or the read ends with a *PartitionError
// (OUT_OF_RANGE), yielded by Records. A group member's partition is then
// read on a stream of its own until it joins the member stream (see
// Consumer). Seek in OnAssigned to start a partition given elsewhere than
// the committed offset.
func (k *Consumer) Seek(topic string, partition int32, offset int64) error {
	if offset < 0 {
		return fmt.Errorf("client: Seek %s/%d to offset %d: offsets start at 0", topic, partition, offset)
	}
	return k.seek(topic, []int32{partition}, startSpec{pos: runnelv1.StartPosition_START_POSITION_OFFSET, offset: offset})
}

// SeekToEarliest moves the partitions (all the topic's the consumer reads
// when none is named) to their log start.
func (k *Consumer) SeekToEarliest(topic string, partitions ...int32) error {
	return k.seek(topic, partitions, startSpec{pos: runnelv1.StartPosition_START_POSITION_EARLIEST})
}

// SeekToLatest moves the partitions to their high watermark: only records
// appended from then on are returned.
func (k *Consumer) SeekToLatest(topic string, partitions ...int32) error {
	return k.seek(topic, partitions, startSpec{pos: runnelv1.StartPosition_START_POSITION_LATEST})
}

// SeekToTime moves the partitions to their first record whose timestamp
// is at or after t (the high watermark when there is none).
func (k *Consumer) SeekToTime(topic string, t time.Time, partitions ...int32) error {
	if t.IsZero() {
		return fmt.Errorf("client: SeekToTime %s: a zero time", topic)
	}
	return k.seek(topic, partitions, startSpec{pos: runnelv1.StartPosition_START_POSITION_TIMESTAMP, time: t})
}

func (k *Consumer) seek(topic string, partitions []int32, spec startSpec) error {
	return k.each(topic, partitions, func(tp topicPartition, st *partState) {
		st.gen++
		k.stopReadLocked(st)
		st.spec = spec
		st.pos, st.done = -1, -1
		if spec.pos == runnelv1.StartPosition_START_POSITION_OFFSET {
			st.pos, st.done = spec.offset, spec.offset
		}
		if !st.paused {
			k.restartLocked(tp, st)
		}
	})
}

// each runs fn, under the lock, on the named partitions of topic (all
// the consumer reads of it when none is named), once it checked that the
// consumer reads them all.
func (k *Consumer) each(topic string, partitions []int32, fn func(topicPartition, *partState)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrClosed
	}
	if len(partitions) == 0 {
		for tp := range k.parts {
			if tp.topic == topic {
				partitions = append(partitions, tp.partition)
			}
		}
		if len(partitions) == 0 {
			return fmt.Errorf("client: the consumer reads no partition of %q now", topic)
		}
	}
	for _, p := range partitions {
		if k.parts[topicPartition{topic, p}] == nil {
			return fmt.Errorf("client: the consumer does not read %s/%d (assigned: %v)", topic, p, byTopicMap(slices.Collect(maps.Keys(k.parts))))
		}
	}
	for _, p := range partitions {
		tp := topicPartition{topic, p}
		fn(tp, k.parts[tp])
	}
	return nil
}

// stopReadLocked ends the partition's own read, if any.
func (k *Consumer) stopReadLocked(st *partState) {
	if st.src != nil {
		st.src.cancel()
		st.src = nil
	}
}

// restartLocked reads the partition on a read of its own from its
// position, or, while that is unknown, from its spec (a member's: the
// group's committed offset).
func (k *Consumer) restartLocked(tp topicPartition, st *partState) {
	spec := st.spec
	switch {
	case st.pos >= 0:
		spec = startSpec{pos: runnelv1.StartPosition_START_POSITION_OFFSET, offset: st.pos}
	case spec.pos == runnelv1.StartPosition_START_POSITION_UNSPECIFIED:
		spec = startSpec{pos: runnelv1.StartPosition_START_POSITION_COMMITTED}
	}
	k.startReadLocked(tp, st, spec)
}
