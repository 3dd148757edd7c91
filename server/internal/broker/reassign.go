package broker

import (
	"context"
	"fmt"
	"slices"
	"time"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/catalog"
	"github.com/runnel-broker/runnel/server/internal/controller"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// Moving a partition's replicas, Kafka's partition reassignment carried
// out by raft: ReassignPartition records the target in the metadata log;
// the brokers being added open the partition as joining replicas; the
// partition's leader then takes the steps server/internal/controller
// plans (adds them as learners, waits until they have caught up,
// promotes them and removes the replicas not wanted in one joint
// configuration change, handing its leadership to a wanted replica first
// if it is not one), and records the reassignment done, upon which the
// removed brokers delete their copies. Producers and consumers go on
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
		if b.catalog.IsDecommissioning(id) {
			return errs.Newf(ErrPrecondition, "broker %d is being removed (RemoveBroker): it takes no new replicas", id)
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
// leads, to target, as the controller plans it (controller.Reassign).
// Each step is one raft configuration change (raft takes one at a time)
// or a leadership transfer, seen applied on a later call; the last
// records the move done.
func (b *Broker) reassignStep(t *catalog.Topic, p int32, target []int32, part *raftstore.Partition) error {
	step, err := controller.Reassign(b.groupState(part), target)
	if err != nil {
		return fmt.Errorf("partition %s: %w", part.Name(), err)
	}
	if step.Action != controller.Finish {
		applyStep(part, step)
		return nil
	}
	// The group's voters are the target: record the move done.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_PartitionReassigned{
		PartitionReassigned: &metav1.PartitionReassigned{Topic: t.Name, TopicId: t.ID, Partition: p, Replicas: target},
	}})
}
