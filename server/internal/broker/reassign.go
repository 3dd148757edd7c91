package broker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/catalog"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// Moving a partition's replicas, Kafka's partition reassignment carried
// out by raft: ReassignPartition records the target in the metadata log;
// the brokers being added open the partition as joining replicas; the
// partition's leader then adds them as learners, waits until they have
// caught up, promotes them and removes the replicas not wanted in one
// joint configuration change (handing its leadership to a wanted replica
// first if it is not one), and records the reassignment done, upon which
// the removed brokers delete their copies. Producers and consumers go on
// throughout: only a leadership change, if any, asks them to retry.

// reassignInterval is how often a partition's leader moves a reassignment
// one step on.
const reassignInterval = 250 * time.Millisecond

// ReassignPartition starts moving partition p of topic to replicas (the
// preferred leader first). It returns once the move is recorded; see
// DescribePartitions for its progress.
func (b *Broker) ReassignPartition(ctx context.Context, topic string, p int32, replicas []int32) error {
	t, err := b.catalog.Topic(topic)
	if err != nil {
		return err
	}
	if p < 0 || p >= t.Partitions {
		return errs.Newf(ErrInvalid, "partition %d does not exist: topic %q has partitions 0 to %d", p, topic, t.Partitions-1)
	}
	if len(replicas) == 0 {
		return errs.Newf(ErrInvalid, "no replicas given: name the brokers to hold the partition")
	}
	for i, id := range replicas {
		if _, ok := b.Member(id); !ok {
			return errs.Newf(ErrInvalid, "broker %d is not in the cluster (brokers: %v)", id, b.memberIDs())
		}
		if slices.Contains(replicas[:i], id) {
			return errs.Newf(ErrInvalid, "broker %d is named twice in replicas %v", id, replicas)
		}
	}
	return b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_PartitionReassignment{
		PartitionReassignment: &metav1.PartitionReassignment{Topic: t.Name, TopicId: t.ID, Partition: p, TargetReplicas: replicas},
	}})
}

func (b *Broker) memberIDs() []int32 {
	var ids []int32
	for _, m := range b.Members() {
		ids = append(ids, m.NodeID)
	}
	return ids
}

// reassignPartitions runs until done, moving on every reassignment of a
// partition this broker leads.
func (b *Broker) reassignPartitions(done <-chan struct{}) {
	ticker := time.NewTicker(reassignInterval)
	defer ticker.Stop()
	warned := map[string]time.Time{} // a step's error is logged every 30s at most
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
		}
		for _, t := range b.catalog.Topics() {
			for p, target := range t.Targets {
				part := b.store.Partition(partitionName(t.Name, p))
				if part == nil || part.Leader() != uint64(b.cfg.NodeID) {
					continue
				}
				if err := b.reassignStep(t, p, target, part); err != nil && time.Since(warned[part.Name()]) > 30*time.Second {
					warned[part.Name()] = time.Now()
					b.logger.Warn("reassignment", "topic", t.Name, "partition", p, "err", err)
				}
			}
		}
	}
}

// reassignStep takes the next step of moving part, which this broker
// leads, to target. Each step is one raft configuration change (raft
// takes one at a time), seen applied on a later call.
func (b *Broker) reassignStep(t *catalog.Topic, p int32, target []int32, part *raftstore.Partition) error {
	if !part.Joinable() {
		return fmt.Errorf("partition %s was created by an older version whose log does not hold its voters: it cannot take new replicas", part.Name())
	}
	cs := part.Conf()
	if len(cs.VotersOutgoing) > 0 {
		return nil // joint: raft leaves it by itself
	}
	wanted := func(id uint64) bool { return slices.Contains(target, int32(id)) }
	var changes []raftpb.ConfChangeSingle
	change := func(typ raftpb.ConfChangeType, id uint64) {
		changes = append(changes, raftpb.ConfChangeSingle{Type: typ, NodeID: id})
	}
	// Add the new replicas as learners: they copy the log without
	// counting towards the quorum.
	for _, id := range target {
		if !slices.Contains(cs.Voters, uint64(id)) && !slices.Contains(cs.Learners, uint64(id)) {
			change(raftpb.ConfChangeAddLearnerNode, uint64(id))
		}
	}
	// Learners of an earlier target that a new one replaced go.
	for _, id := range cs.Learners {
		if !wanted(id) {
			change(raftpb.ConfChangeRemoveNode, id)
		}
	}
	if len(changes) > 0 {
		part.ChangeConf(raftpb.ConfChangeV2{Changes: changes})
		return nil
	}
	caughtUp := part.CaughtUp()
	for _, id := range cs.Learners {
		if !slices.Contains(caughtUp, id) {
			return nil // still copying
		}
	}
	for _, id := range cs.Learners {
		change(raftpb.ConfChangeAddNode, id)
	}
	self := uint64(b.cfg.NodeID)
	if !wanted(self) {
		// Promote first, then hand the leadership to a wanted replica,
		// which removes this one: a leader removing itself would leave
		// the group leaderless for an election timeout.
		if len(changes) > 0 {
			part.ChangeConf(raftpb.ConfChangeV2{Changes: changes})
			return nil
		}
		for _, id := range target {
			if slices.Contains(caughtUp, uint64(id)) {
				part.TransferLeadership(uint64(id))
				return nil
			}
		}
		return nil
	}
	for _, id := range cs.Voters {
		if !wanted(id) {
			change(raftpb.ConfChangeRemoveNode, id)
		}
	}
	if len(changes) > 0 {
		part.ChangeConf(raftpb.ConfChangeV2{Changes: changes})
		return nil
	}
	// The group's voters are the target: record the move done.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_PartitionReassigned{
		PartitionReassigned: &metav1.PartitionReassigned{Topic: t.Name, TopicId: t.ID, Partition: p, Replicas: target},
	}})
}
