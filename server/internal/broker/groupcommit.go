package broker

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/group"
	"github.com/runnel-broker/runnel/server/internal/offsets"
	"github.com/runnel-broker/runnel/server/internal/records"
)

// MemberCommit names the group member a commit is made by; the zero
// value is a commit of no member (manual assignment, an admin reset).
type MemberCommit struct {
	ID    string
	Epoch int32
}

// commitChecked writes the records allowed returns (commits, or
// DeleteGroup's tombstones) to the group's offsets partition, on its
// coordinator only (elsewhere a *NotCoordinatorError), and returns once
// they are durable and applied. allowed sees the group as it is and
// refuses what may not be written, or leaves out what needs no writing.
//
// NB: the group's commitMu is held from the check to the submission, and
// the submission is fenced to the coordinator's term, so that the log
// holds a group's commits in the order they were checked: a commit
// checked before its member lost a partition can never land after the
// next owner's.
func (c *coordinator) commitChecked(ctx context.Context, name string, allowed func(*group.Group) ([]records.Record, error)) error {
	c.mu.Lock()
	cg, err := c.coordinatedLocked(name)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	cg.commitMu.Lock()
	c.mu.Lock()
	if c.groups[name] != cg { // dropped meanwhile: it moved, or the term did
		c.mu.Unlock()
		cg.commitMu.Unlock()
		return &NotCoordinatorError{Group: name}
	}
	recs, err := allowed(cg.g)
	c.mu.Unlock()
	var pr *raftstore.Proposal
	if err == nil && len(recs) > 0 {
		pr, err = submit(ctx, cg.part, recs, timestampNow(), encoding{}, Producer{}, raftstore.SubmitOptions{LeaderTerm: cg.term})
	}
	cg.commitMu.Unlock()
	if err == nil && pr != nil {
		_, err = pr.Wait(ctx)
	}
	return c.b.storeError(offsets.Topic, offsets.PartitionFor(name), err)
}

// checkEmpty refuses a change only a group without members may take.
func checkEmpty(g *group.Group, fix string) error {
	if n := g.Size(); n > 0 {
		return errs.Newf(ErrGroupNotEmpty, "group %q has %d members: %s", g.Name(), n, fix)
	}
	return nil
}

// memberCommitted tells the group a member's commit is durable: the
// partitions it was revoking move on, if the commit covers what its
// stream delivered of them.
func (c *coordinator) memberCommitted(grp, topic string, positions map[int32]int64, mc MemberCommit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cg := c.groups[grp]
	if cg == nil {
		return
	}
	for _, p := range slices.Sorted(maps.Keys(positions)) {
		cg.g.Committed(time.Now(), mc.ID, group.Partition{Topic: topic, Partition: p}, positions[p])
	}
	c.publishLocked(cg)
}
