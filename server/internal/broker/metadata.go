package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/catalog"
	"github.com/runnel-broker/runnel/server/internal/controller"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/offsets"
	"github.com/runnel-broker/runnel/server/internal/records"
)

// maxPartitions bounds a topic's partition count: each partition is a
// raft group with its own goroutine and files.
const maxPartitions = 1024

// defaultReplicationFactor is a new topic's replication factor when the
// request leaves it unset, capped by the brokers there are: three copies
// survive one broker down while another is out for maintenance.
const defaultReplicationFactor = 3

// CreateTopic creates a topic and opens its partitions. It returns once
// the topic is durable and its partitions accept records.
func (b *Broker) CreateTopic(ctx context.Context, name string, partitions, replicationFactor int32, config map[string]string) (*catalog.Topic, error) {
	if err := catalog.ValidateTopicName(name); err != nil {
		return nil, err
	}
	if partitions < 1 || partitions > maxPartitions {
		return nil, errs.Newf(ErrInvalid, "partitions is %d: a topic has 1 to %d partitions", partitions, maxPartitions)
	}
	// NB: brokers being removed take no new replicas.
	members := b.placeable(0)
	brokers := int32(len(members))
	if replicationFactor == 0 {
		replicationFactor = min(brokers, defaultReplicationFactor)
	}
	assignments, err := b.place(members, partitions, replicationFactor)
	if errors.Is(err, controller.ErrReplicationFactor) {
		return nil, errs.Newf(ErrInvalid, "replication factor %d: the cluster has %d broker(s), so use 1 to %d",
			replicationFactor, brokers, brokers)
	} else if err != nil {
		return nil, err
	}
	if err := catalog.ValidateConfig(config); err != nil {
		return nil, err
	}
	if _, err := b.catalog.Topic(name); err == nil {
		return nil, errs.Newf(ErrTopicExists, "topic %q already exists", name)
	}
	tc := &metav1.TopicCreated{
		Name:              name,
		TopicId:           newID(),
		Partitions:        partitions,
		ReplicationFactor: replicationFactor,
		Config:            config,
	}
	for _, replicas := range assignments {
		tc.Assignments = append(tc.Assignments, &metav1.PartitionAssignment{Replicas: replicas})
	}
	rec := &metav1.MetadataRecord{Change: &metav1.MetadataRecord_TopicCreated{TopicCreated: tc}}
	if err := b.proposeMetadata(ctx, rec); err != nil {
		return nil, err
	}
	t, err := b.catalog.Topic(name)
	if err != nil {
		return nil, err // deleted meanwhile
	}
	// Return once every partition replicated here has a leader, so that a
	// produce right after CreateTopic succeeds.
	for p := range t.Partitions {
		part := b.store.Partition(partitionName(name, p))
		if part == nil {
			continue
		}
		if err := waitReady(ctx, part); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// DeleteTopic deletes a topic and its partitions' data.
func (b *Broker) DeleteTopic(ctx context.Context, name string) error {
	t, err := b.catalog.Topic(name)
	if err != nil {
		return err
	}
	return b.proposeMetadata(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_TopicDeleted{
		TopicDeleted: &metav1.TopicDeleted{Name: t.Name, TopicId: t.ID},
	}})
}

// Topic returns a topic's definition.
func (b *Broker) Topic(name string) (*catalog.Topic, error) { return b.catalog.Topic(name) }

// Topics lists the topics by name.
func (b *Broker) Topics() []*catalog.Topic { return b.catalog.Topics() }

// PartitionState is what DescribeTopic reports of one partition.
type PartitionState struct {
	Partition int32
	Leader    int32
	// LeaderEpoch is the term Leader was elected in (0 with no leader).
	LeaderEpoch    uint64
	Replicas       []int32
	LogStartOffset int64
	HighWatermark  int64
	// InSync is known only where the partition's leader is: see
	// raftstore.Partition.InSync.
	InSync []int32
	// Adding and Removing are the replicas a reassignment going adds and
	// removes; Replicas then holds both.
	Adding, Removing []int32
}

// DescribePartitions reports the state of each of a topic's partitions.
func (b *Broker) DescribePartitions(t *catalog.Topic) []PartitionState {
	out := make([]PartitionState, 0, t.Partitions)
	for p := range t.Partitions {
		st := PartitionState{Partition: p}
		st.Replicas = t.Replicas(p)
		if target, moving := t.Targets[p]; moving {
			for _, id := range target {
				if !slices.Contains(t.Assignments[p], id) {
					st.Adding = append(st.Adding, id)
				}
			}
			for _, id := range t.Assignments[p] {
				if !slices.Contains(target, id) {
					st.Removing = append(st.Removing, id)
				}
			}
		}
		if part := b.store.Partition(partitionName(t.Name, p)); part != nil {
			if view := part.Leadership(); view.Leader != 0 {
				st.Leader, st.LeaderEpoch = int32(view.Leader), view.Term
			}
			st.LogStartOffset = part.LogStartOffset()
			st.HighWatermark = part.HighWatermark()
			for _, id := range part.InSync() {
				st.InSync = append(st.InSync, int32(id))
			}
		}
		out = append(out, st)
	}
	return out
}

func clusterCreated(id string) *metav1.MetadataRecord {
	return &metav1.MetadataRecord{Change: &metav1.MetadataRecord_ClusterCreated{
		ClusterCreated: &metav1.ClusterCreated{ClusterId: id},
	}}
}

// proposeMetadata appends one record to the metadata log and returns once
// it is applied (or the catalog rejected it).
func (b *Broker) proposeMetadata(ctx context.Context, m *metav1.MetadataRecord) error {
	_, err := b.proposeMetadataAt(ctx, m)
	return err
}

// proposeMetadataAt is proposeMetadata, returning the record's offset.
func (b *Broker) proposeMetadataAt(ctx context.Context, m *metav1.MetadataRecord) (int64, error) {
	value, err := proto.Marshal(m)
	if err != nil {
		return 0, err
	}
	return b.proposeInternal(ctx, metadataTopic, 0, records.New(nil, value, records.Timestamp{}))
}

// applyMetadata is the metadata partition's state machine. It runs on
// that partition's raft goroutine, in log order.
func (b *Broker) applyMetadata(batch raftstore.Batch) error {
	changes, err := decodeValues(batch, func() *metav1.MetadataRecord { return &metav1.MetadataRecord{} })
	if err != nil {
		// A record the broker wrote passed its checksum yet does not
		// decode: a bug, not damage. Say so loudly; the batch changes nothing.
		b.logger.Error("undecodable metadata batch", "offset", batch.BaseOffset, "err", err)
		return fmt.Errorf("metadata batch at offset %d: %w", batch.BaseOffset, err)
	}
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	var firstErr error
	for _, m := range changes {
		change, err := b.catalog.Apply(m)
		if err != nil {
			firstErr = err
			continue
		}
		if change.Registered != 0 {
			// NB: while replaying too: the raft groups need the address.
			b.addPeer(change.Registered, change.Addresses.Peer)
		}
		if change.Removed != 0 {
			b.removePeer(change.Removed)
		}
		b.act(change)
	}
	if err := b.storeClusterID(); err != nil {
		b.logger.Error("the metadata names the cluster, but this broker could not record it", "err", err)
	}
	return firstErr
}

// restoreMetadata is the metadata partition's Restore: the catalog becomes
// a snapshot's, taken here or (installed from the leader) on another
// broker, and the broker learns of its brokers as applying their records
// would have told it. Once live, what the snapshot changes is acted on as
// on start: openTopics opens the partitions the catalog names and removes
// those it no longer does.
//
// NB: a snapshot restored on open runs inside Store.OpenPartition, which
// holds the store's openMu, before the metadata partition's loop or
// goLive could take applyMu: it must not take applyMu (the order is
// applyMu, then openMu), and needs not.
func (b *Broker) restoreMetadata(data []byte) error {
	if !b.metaOpen.Load() {
		return b.restoreCatalog(data)
	}
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	if err := b.restoreCatalog(data); err != nil {
		return err
	}
	if !b.live {
		return nil
	}
	if err := b.openTopics(); err != nil {
		// The next start reconciles again.
		b.logger.Error("act on the leader's metadata snapshot", "err", err)
	}
	return nil
}

func (b *Broker) restoreCatalog(data []byte) error {
	if err := b.catalog.Restore(data); err != nil {
		return err
	}
	for id, addrs := range b.catalog.Brokers() {
		b.addPeer(id, addrs.Peer)
	}
	for _, id := range b.catalog.RemovedIDs() {
		b.removePeer(id)
	}
	if err := b.storeClusterID(); err != nil {
		b.logger.Error("the metadata names the cluster, but this broker could not record it", "err", err)
	}
	return nil
}

// act carries a catalog change out on disk; applyMu is held. While the
// log replays on start it does nothing: openTopics then opens what the catalog names and
// removes the partitions of deleted topics; a partition directory left by
// an earlier topic of the same name is told apart by its incarnation.
func (b *Broker) act(c catalog.Change) {
	if !b.live {
		return
	}
	switch {
	case c.Deleted != nil:
		b.deletePartitions(c.Deleted)
		if b.cfg.TopicDeleted != nil {
			b.cfg.TopicDeleted(c.Deleted.Name)
		}
	case c.Created != nil:
		if err := b.openPartitions(c.Created); err != nil {
			b.logger.Error("open partitions of new topic", "topic", c.Created.Name, "err", err)
		}
	case c.Reassigning != nil:
		t, p := c.Reassigning, c.Partition
		name := partitionName(t.Name, p)
		if !slices.Contains(t.Assignments[p], b.cfg.NodeID) && b.store.Partition(name) == nil {
			// A copy left from an earlier membership here (its deletion
			// failed) holds a stale configuration: join afresh.
			if err := b.store.DeletePartition(name); err != nil {
				b.logger.Error("remove a stale copy of a partition being reassigned here", "partition", name, "err", err)
				return
			}
		}
		if err := b.openPartition(t, p); err != nil {
			b.logger.Error("open partition being reassigned here", "topic", t.Name, "partition", p, "err", err)
		}
	case c.Reassigned != nil:
		// NB: raft removed this replica from the group before the
		// reassignment completed: nothing needs its copy.
		t, p := c.Reassigned, c.Partition
		if !slices.Contains(t.Assignments[p], b.cfg.NodeID) {
			if err := b.store.DeletePartition(partitionName(t.Name, p)); err != nil {
				b.logger.Error("delete partition reassigned away", "topic", t.Name, "partition", p, "err", err)
			}
		}
	}
}

// LocalPartition is what a replica here knows of its partition, for the
// broker's metrics.
type LocalPartition struct {
	Topic     string
	Partition int32
	// Leads: this replica leads the group; Leader is the leader it knows
	// (0: none) and LeaderEpoch its term.
	Leads          bool
	Leader         int32
	LeaderEpoch    uint64
	HighWatermark  int64
	LogStartOffset int64
	SizeBytes      int64
	// Replicas is the group's voters; InSync those in sync, known only on
	// the leader (-1 elsewhere).
	Replicas, InSync int
	// Failed: the replica stopped on an error (raftstore.Partition.Err).
	Failed bool
}

// LocalPartitions reports every partition replicated here: the topics'
// and the internal ones.
func (b *Broker) LocalPartitions() []LocalPartition {
	type named struct {
		topic string
		p     int32
	}
	var names []named
	for _, t := range b.catalog.Topics() {
		for p := range t.Partitions {
			names = append(names, named{t.Name, p})
		}
	}
	names = append(names, named{metadataTopic, 0})
	for i := range int32(offsets.Partitions) {
		names = append(names, named{offsets.Topic, i})
	}
	var out []LocalPartition
	for _, n := range names {
		part := b.store.Partition(partitionName(n.topic, n.p))
		if part == nil {
			continue
		}
		view := part.Leadership()
		lp := LocalPartition{Topic: n.topic, Partition: n.p, Leader: int32(view.Leader), LeaderEpoch: view.Term,
			Leads: view.Leader == uint64(b.cfg.NodeID), HighWatermark: part.HighWatermark(), LogStartOffset: part.LogStartOffset(),
			SizeBytes: part.Size(), Replicas: len(part.Conf().Voters), InSync: -1, Failed: part.Err() != nil}
		if lp.Leads {
			lp.InSync = len(part.InSync())
		}
		out = append(out, lp)
	}
	return out
}
