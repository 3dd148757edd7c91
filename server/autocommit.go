package server

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/group"
)

// minAutoCommitInterval bounds how often a member stream commits for its
// client: each commit is a raft write of the offsets partition.
const minAutoCommitInterval = 100 * time.Millisecond

// autoCommitInterval validates a request's auto_commit_interval: zero
// when the client commits itself.
func autoCommitInterval(req *runnelv1.SubscribeRequest) (time.Duration, error) {
	if req.AutoCommitInterval == nil {
		return 0, nil
	}
	if err := req.AutoCommitInterval.CheckValid(); err != nil {
		return 0, invalid("auto_commit_interval: %v", err)
	}
	d := req.AutoCommitInterval.AsDuration()
	switch {
	case d == 0:
		return 0, nil
	case d < minAutoCommitInterval:
		return 0, invalid("auto_commit_interval is %v: use at least %v, or zero to commit yourself", d, minAutoCommitInterval)
	}
	return d, nil
}

// autoCommitter commits for a member stream, at each tick, what it had
// delivered at the tick before: its client had a whole interval to
// process those records (Kafka's auto-commit commits at a poll what the
// poll before returned, for the same reason).
type autoCommitter struct {
	ms *memberStream
	// seen is what each partition had delivered at the last tick, to be
	// committed at this one; committed what was.
	seen, committed map[group.Partition]int64
	// revoked are the partitions taken away whose last records are not
	// committed yet: the group waits for that before moving them.
	revoked map[group.Partition]*partitionCursor
}

func newAutoCommitter(ms *memberStream) *autoCommitter {
	return &autoCommitter{ms: ms, seen: map[group.Partition]int64{}, committed: map[group.Partition]int64{},
		revoked: map[group.Partition]*partitionCursor{}}
}

// revoke keeps committing a partition taken away until its last records
// are (if it delivered any).
func (a *autoCommitter) revoke(p group.Partition, c *partitionCursor) {
	if c.delivered.Load() > c.from {
		a.revoked[p] = c
	}
}

// restart forgets what it knew of a partition given (again): another
// member may have committed it since.
func (a *autoCommitter) restart(p group.Partition) {
	delete(a.revoked, p)
	delete(a.committed, p)
	delete(a.seen, p)
}

// autoCommitFinalTimeout bounds the commit a closing stream makes.
const autoCommitFinalTimeout = 5 * time.Second

// final commits, as the stream ends cleanly, everything it delivered, as
// Kafka's consumer commits its position when it closes: the partitions it
// leaves then move at once.
func (a *autoCommitter) final() {
	ctx, cancel := context.WithTimeout(context.Background(), autoCommitFinalTimeout)
	defer cancel()
	a.seen = map[group.Partition]int64{}
	a.look()
	_ = a.commit(ctx) // NB: best effort: unsettled partitions wait for the rebalance timeout
}

// tick commits what was seen at the last tick and looks again. It waits
// at most an interval for the commit: the stream's view waits meanwhile.
func (a *autoCommitter) tick(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, a.ms.autoCommit)
	defer cancel()
	// NB: a commit that could not be made now (no leader, too slow) is
	// made at the next tick, with what was delivered by then.
	if err := a.commit(cctx); err != nil && ctx.Err() == nil &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, broker.ErrUnavailable) {
		return err
	}
	a.seen = map[group.Partition]int64{}
	a.look()
	return nil
}

// commit commits what was seen.
func (a *autoCommitter) commit(ctx context.Context) error {
	due := map[string]map[int32]int64{}
	for p, o := range a.seen {
		if c, ok := a.committed[p]; ok && c >= o {
			continue
		}
		if due[p.Topic] == nil {
			due[p.Topic] = map[int32]int64{}
		}
		due[p.Topic][p.Partition] = o
	}
	member := broker.MemberCommit{ID: a.ms.told.MemberID, Epoch: a.ms.told.MemberEpoch}
	for _, topic := range slices.Sorted(maps.Keys(due)) {
		err := a.ms.s.broker.Commit(ctx, a.ms.req.Group, topic, due[topic], member)
		if errors.Is(err, broker.ErrFenced) || errors.Is(err, broker.ErrTopicNotFound) {
			// NB: the group moved a partition on before this commit (the
			// new owner starts at the last one), or the topic is gone:
			// stop committing it.
			for p := range due[topic] {
				delete(a.revoked, group.Partition{Topic: topic, Partition: p})
			}
			continue
		}
		if err != nil {
			return err
		}
		for p, o := range due[topic] {
			a.committed[group.Partition{Topic: topic, Partition: p}] = o
		}
	}
	return nil
}

// look notes what each partition has delivered, and forgets the
// partitions taken away whose last records are committed.
func (a *autoCommitter) look() {
	look := func(p group.Partition, c *partitionCursor) {
		if d := c.delivered.Load(); d > c.from {
			a.seen[p] = d
		}
	}
	for p, mp := range a.ms.owned {
		look(p, mp.cursor)
	}
	for p, c := range a.revoked {
		if o, ok := a.committed[p]; ok && o >= c.delivered.Load() {
			delete(a.revoked, p)
			delete(a.committed, p)
			continue
		}
		look(p, c)
	}
}
