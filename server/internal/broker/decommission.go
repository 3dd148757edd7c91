package broker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/controller"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// Removing a broker, Redpanda's decommission: RemoveBroker checks that
// every replica the broker holds has somewhere to go and records the
// broker decommissioning, which keeps new replicas off it (placement,
// ReassignPartition, the internal groups' learners). The controller (the
// metadata group's leader) then reassigns each partition holding it, as
// controller.Decommission plans; the reassignments go as any other. Once
// it holds no data replica, the leaders of the groups every broker
// replicates remove it, a learner there (controller.RemoveLeft); once it
// is in none, the controller records it removed, and it leaves the
// cluster: DescribeCluster no longer lists it, and its node id never
// registers (joins) again.

// RemoveBroker starts removing the broker id from the cluster and returns
// the number of partition replicas it holds, which move to other brokers.
// Asking again while it is being removed changes nothing.
func (b *Broker) RemoveBroker(ctx context.Context, id int32) (int, error) {
	if id <= 0 {
		return 0, errs.Newf(ErrInvalid, "node id %d: node ids are positive", id)
	}
	if b.catalog.Removed(id) {
		return 0, errs.Newf(ErrBrokerNotFound, "broker %d was removed from the cluster already", id)
	}
	if _, ok := b.Member(id); !ok {
		return 0, errs.Newf(ErrBrokerNotFound, "broker %d is not in the cluster (brokers: %v)", id, b.memberIDs())
	}
	holdings, _ := b.holdings()
	drain, err := controller.Decommission(id, b.placeable(id), holdings, nil)
	if b.catalog.IsDecommissioning(id) {
		return len(drain.Moves) + len(drain.Moving), nil
	}
	if members := b.memberIDs(); len(members) == 1 {
		return 0, errs.Newf(ErrPrecondition, "broker %d is the cluster's last broker: it cannot be removed", id)
	}
	if errors.Is(err, controller.ErrNoBrokerToMoveTo) {
		return 0, errs.Newf(ErrPrecondition, "cannot remove broker %d: %s: add a broker first (--join), or lower the partition's "+
			"replication factor (runnel partition reassign without broker %d)", id, strings.TrimPrefix(err.Error(), "controller: "), id)
	} else if err != nil {
		return 0, err
	}
	if cs := b.meta.Conf(); slices.Contains(cs.Voters, uint64(id)) || slices.Contains(cs.VotersOutgoing, uint64(id)) {
		return 0, errs.Newf(ErrPrecondition, "broker %d is one of the initial brokers (--peers), the voters of the metadata and "+
			"consumer offsets groups (%v): removing one is not supported; only brokers that joined (--join) can be removed",
			id, nodeIDs(cs.Voters))
	}
	err = b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerDecommissioning{
		BrokerDecommissioning: &metav1.BrokerDecommissioning{NodeId: id},
	}})
	if err != nil {
		return 0, err
	}
	n := len(drain.Moves) + len(drain.Moving)
	b.logger.Info("decommissioning a broker: its replicas move to the others", "node", id, "replicas", n)
	return n, nil
}

// Decommissioning says whether the broker is being removed.
func (b *Broker) Decommissioning(id int32) bool { return b.catalog.IsDecommissioning(id) }

// placeable are the brokers that take new replicas: the cluster's, but
// those being removed and except.
func (b *Broker) placeable(except int32) []int32 {
	return slices.DeleteFunc(b.memberIDs(), func(id int32) bool { return id == except || b.catalog.IsDecommissioning(id) })
}

// partitionRef names a topic's partition.
type partitionRef struct {
	topic, id string
	p         int32
}

// holdings are every data partition as controller.Decommission plans
// from them, with the topic each names.
func (b *Broker) holdings() ([]controller.Holding, map[string]partitionRef) {
	var out []controller.Holding
	refs := map[string]partitionRef{}
	for _, t := range b.catalog.Topics() {
		for p := range t.Partitions {
			name := partitionName(t.Name, p)
			out = append(out, controller.Holding{Partition: name, Replicas: t.Assignments[p], Target: t.Targets[p]})
			refs[name] = partitionRef{topic: t.Name, id: t.ID, p: p}
		}
	}
	return out, refs
}

// internalParts are the groups every broker replicates.
func (b *Broker) internalParts() []*raftstore.Partition {
	return append([]*raftstore.Partition{b.meta}, b.offsetParts[:]...)
}

// leaving are the brokers the groups every broker replicates drop: those
// being removed that hold no data replica any more, and those removed
// (the controller may see a group without them before its leader does).
func (b *Broker) leaving() []int32 {
	var out []int32
	for _, id := range b.catalog.Decommissioning() {
		holds := false
		for _, t := range b.catalog.Topics() {
			for p := range t.Partitions {
				holds = holds || slices.Contains(t.Replicas(p), id)
			}
		}
		if !holds {
			out = append(out, id)
		}
	}
	return append(out, b.catalog.RemovedIDs()...)
}

// drainBrokers runs until done: while this broker is the controller, it
// moves each decommissioning broker one step on (drainStep).
func (b *Broker) drainBrokers(done <-chan struct{}) {
	ticker := time.NewTicker(reassignInterval)
	defer ticker.Stop()
	warned := map[int32]time.Time{} // an error is logged every 30s at most
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
		}
		if b.ControllerID() != b.cfg.NodeID {
			continue
		}
		for _, id := range b.catalog.Decommissioning() {
			if err := b.drainStep(id); err != nil && time.Since(warned[id]) > 30*time.Second {
				warned[id] = time.Now()
				b.logger.Warn("decommissioning a broker", "node", id, "err", err)
			}
		}
	}
}

// drainStep reassigns each partition holding the broker id that no
// reassignment moves off it yet, and records the broker removed once it
// holds nothing and is in none of the groups every broker replicates.
func (b *Broker) drainStep(id int32) error {
	holdings, refs := b.holdings()
	var internal []controller.Conf
	for _, part := range b.internalParts() {
		cs := part.Conf()
		internal = append(internal, controller.Conf{Voters: nodeIDs(cs.Voters), VotersOutgoing: nodeIDs(cs.VotersOutgoing), Learners: nodeIDs(cs.Learners)})
	}
	drain, err := controller.Decommission(id, b.placeable(id), holdings, internal)
	if err != nil {
		// NB: a broker joins, or a partition moves, and the next step
		// may find a way.
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range drain.Moves {
		ref := refs[m.Partition]
		err := b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_PartitionReassignment{
			PartitionReassignment: &metav1.PartitionReassignment{Topic: ref.topic, TopicId: ref.id, Partition: ref.p, TargetReplicas: m.Replicas},
		}})
		if err != nil && !errors.Is(err, ErrTopicNotFound) {
			return err
		}
	}
	if !drain.Done {
		return nil
	}
	if err := b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_BrokerRemoved{
		BrokerRemoved: &metav1.BrokerRemoved{NodeId: id},
	}}); err != nil {
		return err
	}
	b.logger.Info("removed a broker from the cluster: it holds no replica", "node", id)
	return nil
}
