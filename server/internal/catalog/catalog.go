package catalog

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/server/internal/authz"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/quota"
)

// Topic is a topic as the catalog knows it.
type Topic struct {
	Name              string
	ID                string
	Partitions        int32
	ReplicationFactor int32
	// Overrides are the config keys the user set.
	Overrides   map[string]string
	Config      TopicConfig
	Assignments [][]int32 // replicas per partition, the raft group's voters
	// Targets are the reassignments going, by partition: the replicas
	// wanted (see ReassignPartition).
	Targets map[int32][]int32
	// Moved says, by partition, that its replicas changed since the topic
	// was created: a replica missing on disk then joins the running group
	// rather than starting it anew.
	Moved []bool
}

// Replicas returns the brokers holding partition p or about to: its
// replicas, and the targets of a reassignment going.
func (t *Topic) Replicas(p int32) []int32 {
	out := slices.Clone(t.Targets[p])
	for _, id := range t.Assignments[p] {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// HasMoved reports whether partition p's replicas changed since the topic
// was created (see Moved).
func (t *Topic) HasMoved(p int32) bool { return int(p) < len(t.Moved) && t.Moved[p] }

// clone copies t for a change: readers may hold the old one.
func (t *Topic) clone() *Topic {
	c := *t
	c.Assignments = slices.Clone(t.Assignments)
	c.Targets = maps.Clone(t.Targets)
	c.Moved = slices.Clone(t.Moved)
	if c.Moved == nil {
		c.Moved = make([]bool, t.Partitions)
	}
	if c.Targets == nil {
		c.Targets = map[int32][]int32{}
	}
	return &c
}

// Change says what applying a record did, so that the broker can open or
// delete partitions.
type Change struct {
	Created *Topic
	Deleted *Topic
	// Reassigning: a reassignment of Partition of Topic started.
	Reassigning *Topic
	// Reassigned: one completed.
	Reassigned *Topic
	Partition  int32
	// Registered: a broker joined, or its addresses changed.
	Registered int32
	Addresses  BrokerAddresses
	// Removed: a broker left the cluster.
	Removed int32
}

// Catalog holds the topics. Apply is called by the metadata partition's
// raft goroutine; the getters by anyone.
type Catalog struct {
	mu        sync.RWMutex // guards the fields below
	clusterID string
	topics    map[string]*Topic
	brokers   map[int32]BrokerAddresses // the brokers registered, by node id
	versions  map[int32]string          // their builds, by node id, if they said
	// decommissioning are the brokers being removed, removed those gone:
	// their node ids never register again.
	decommissioning, removed map[int32]bool
	// acls are the cluster's ACLs, sorted by authz.Compare, each once;
	// aclVersion moves on every change of them.
	acls       []authz.ACL
	aclVersion uint64
	// quotas are the cluster's quotas; quotaVersion moves on every change
	// of them.
	quotas quota.Quotas
	// NB: atomic, so that the hot path reads it without the lock;
	// written with mu held.
	quotaVersion atomic.Uint64
}

// New returns an empty catalog.
func New() *Catalog {
	return &Catalog{topics: make(map[string]*Topic), brokers: make(map[int32]BrokerAddresses), versions: make(map[int32]string),
		decommissioning: map[int32]bool{}, removed: map[int32]bool{}}
}

// Apply applies one metadata record. It is deterministic: every replica
// applying the same log reaches the same catalog. A record that conflicts
// (a topic that exists, or does not) changes nothing and returns the
// error that its proposer gets.
func (c *Catalog) Apply(r *metav1.MetadataRecord) (Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch x := r.Change.(type) {
	case *metav1.MetadataRecord_ClusterCreated:
		if c.clusterID == "" {
			c.clusterID = x.ClusterCreated.ClusterId
		}
		return Change{}, nil
	case *metav1.MetadataRecord_TopicCreated:
		tc := x.TopicCreated
		if _, ok := c.topics[tc.Name]; ok {
			return Change{}, errs.Newf(ErrTopicExists, "topic %q already exists", tc.Name)
		}
		cfg, err := ParseConfig(tc.Config)
		if err != nil {
			return Change{}, err
		}
		t := &Topic{
			Name:              tc.Name,
			ID:                tc.TopicId,
			Partitions:        tc.Partitions,
			ReplicationFactor: tc.ReplicationFactor,
			Overrides:         tc.Config,
			Config:            cfg,
		}
		for _, a := range tc.Assignments {
			t.Assignments = append(t.Assignments, slices.Clone(a.Replicas))
		}
		c.topics[t.Name] = t
		return Change{Created: t}, nil
	case *metav1.MetadataRecord_TopicDeleted:
		t, ok := c.topics[x.TopicDeleted.Name]
		if !ok || t.ID != x.TopicDeleted.TopicId {
			return Change{}, errs.Newf(ErrTopicNotFound, "topic %q does not exist", x.TopicDeleted.Name)
		}
		delete(c.topics, t.Name)
		return Change{Deleted: t}, nil
	case *metav1.MetadataRecord_PartitionReassignment:
		ra := x.PartitionReassignment
		t, err := c.partition(ra.Topic, ra.TopicId, ra.Partition)
		if err != nil {
			return Change{}, err
		}
		_, going := t.Targets[ra.Partition]
		if !going && slices.Equal(t.Assignments[ra.Partition], ra.TargetReplicas) {
			return Change{}, nil
		}
		t = t.clone()
		t.Targets[ra.Partition] = slices.Clone(ra.TargetReplicas)
		t.Moved[ra.Partition] = true
		c.topics[t.Name] = t
		return Change{Reassigning: t, Partition: ra.Partition}, nil
	case *metav1.MetadataRecord_PartitionReassigned:
		rd := x.PartitionReassigned
		t, err := c.partition(rd.Topic, rd.TopicId, rd.Partition)
		if err != nil {
			return Change{}, err
		}
		target, going := t.Targets[rd.Partition]
		if !going || !slices.Equal(target, rd.Replicas) {
			return Change{}, errs.Newf(ErrInvalid, "topic %q partition %d is not being reassigned to %v", rd.Topic, rd.Partition, rd.Replicas)
		}
		t = t.clone()
		t.Assignments[rd.Partition] = slices.Clone(rd.Replicas)
		delete(t.Targets, rd.Partition)
		// The topic's replication factor follows once every partition
		// has the same number of replicas again.
		if !slices.ContainsFunc(t.Assignments, func(a []int32) bool { return len(a) != len(rd.Replicas) }) {
			t.ReplicationFactor = int32(len(rd.Replicas))
		}
		c.topics[t.Name] = t
		return Change{Reassigned: t, Partition: rd.Partition}, nil
	case *metav1.MetadataRecord_BrokerRegistered:
		br := x.BrokerRegistered
		if c.removed[br.NodeId] {
			return Change{}, errs.Newf(ErrBrokerRemoved, "node id %d was removed from the cluster (RemoveBroker) and cannot join again: "+
				"give the broker another node id and an empty data directory", br.NodeId)
		}
		addrs := BrokerAddresses{Client: br.Address, Peer: br.PeerAddress}
		if addrs.Peer == "" {
			// NB: written before brokers had a peer listener.
			addrs.Peer = addrs.Client
		}
		// NB: a broker is its node id at its peer address; where clients
		// reach it may change from one start to the next.
		known, ok := c.brokers[br.NodeId]
		if ok && known.Peer != addrs.Peer && !br.Initial {
			return Change{}, errs.Newf(ErrBrokerExists, "node id %d is registered at %s: give the broker at %s another id",
				br.NodeId, known.Peer, addrs.Peer)
		}
		// NB: an empty version leaves the known one: the broker joined
		// through writes the joining one's addresses alone.
		if br.Version != "" {
			c.versions[br.NodeId] = br.Version
		}
		if ok && known == addrs {
			return Change{}, nil // at most a new build: nothing to act on
		}
		c.brokers[br.NodeId] = addrs
		return Change{Registered: br.NodeId, Addresses: addrs}, nil
	case *metav1.MetadataRecord_BrokerDecommissioning:
		id := x.BrokerDecommissioning.NodeId
		if c.removed[id] {
			return Change{}, errs.Newf(ErrBrokerRemoved, "broker %d was removed from the cluster", id)
		}
		c.decommissioning[id] = true
		return Change{}, nil
	case *metav1.MetadataRecord_BrokerRemoved:
		id := x.BrokerRemoved.NodeId
		if !c.decommissioning[id] {
			return Change{}, errs.Newf(ErrInvalid, "broker %d is not being decommissioned", id)
		}
		delete(c.decommissioning, id)
		delete(c.brokers, id)
		delete(c.versions, id)
		c.removed[id] = true
		return Change{Removed: id}, nil
	case *metav1.MetadataRecord_AclsCreated:
		return Change{}, c.applyACLs(x.AclsCreated.Acls, true)
	case *metav1.MetadataRecord_AclsDeleted:
		return Change{}, c.applyACLs(x.AclsDeleted.Acls, false)
	case *metav1.MetadataRecord_QuotaSet:
		return Change{}, c.applyQuotaSet(x.QuotaSet)
	case *metav1.MetadataRecord_QuotaDeleted:
		return Change{}, c.applyQuotaDeleted(x.QuotaDeleted)
	case *metav1.MetadataRecord_ProducerIdBlock:
		// NB: the record's offset is the block (broker.InitProducer); the
		// catalog keeps nothing of it.
		return Change{}, nil
	default:
		return Change{}, fmt.Errorf("unknown metadata record %T", r.Change)
	}
}

// partition returns the topic of a record about one of its partitions.
func (c *Catalog) partition(name, id string, p int32) (*Topic, error) {
	t, ok := c.topics[name]
	if !ok || t.ID != id {
		return nil, errs.Newf(ErrTopicNotFound, "topic %q does not exist", name)
	}
	if p < 0 || p >= t.Partitions {
		return nil, errs.Newf(ErrInvalid, "topic %q has no partition %d", name, p)
	}
	return t, nil
}

// BrokerAddresses are where a broker is reached.
type BrokerAddresses struct {
	Client string // by clients
	Peer   string // by the other brokers
}

// Brokers returns the brokers registered: those that joined the running
// cluster, and the initial ones that said where clients reach them.
func (c *Catalog) Brokers() map[int32]BrokerAddresses {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return maps.Clone(c.brokers)
}

// Broker returns the addresses of a broker registered.
func (c *Catalog) Broker(id int32) (BrokerAddresses, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	addr, ok := c.brokers[id]
	return addr, ok
}

// Decommissioning returns the brokers being removed, by node id.
func (c *Catalog) Decommissioning() []int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Sorted(maps.Keys(c.decommissioning))
}

// IsDecommissioning says whether the broker is being removed.
func (c *Catalog) IsDecommissioning(id int32) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.decommissioning[id]
}

// Removed says whether the broker was removed from the cluster.
func (c *Catalog) Removed(id int32) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.removed[id]
}

// RemovedIDs returns the brokers removed from the cluster, by node id.
func (c *Catalog) RemovedIDs() []int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Sorted(maps.Keys(c.removed))
}

// BrokerVersion returns the build a broker registered with, "" if it did
// not say.
func (c *Catalog) BrokerVersion(id int32) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.versions[id]
}

// ClusterID returns the cluster's id, "" before the first record.
func (c *Catalog) ClusterID() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.clusterID
}

// Topic returns the named topic or ErrTopicNotFound.
func (c *Catalog) Topic(name string) (*Topic, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.topics[name]
	if !ok {
		return nil, errs.Newf(ErrTopicNotFound, "topic %q does not exist", name)
	}
	return t, nil
}

// Topics returns the topics sorted by name.
func (c *Catalog) Topics() []*Topic {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Topic, 0, len(c.topics))
	for _, t := range c.topics {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Topic) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// snapshotVersion is the CatalogSnapshot version this package writes and
// reads.
const snapshotVersion = 1

// Snapshot encodes the catalog: everything the metadata records applied so
// far built. Called by the metadata partition's raft goroutine right after
// an Apply. Equal catalogs encode to equal bytes.
func (c *Catalog) Snapshot() ([]byte, error) {
	c.mu.RLock()
	snap := &metav1.CatalogSnapshot{Version: snapshotVersion, ClusterId: c.clusterID}
	for _, t := range c.topics {
		ts := &metav1.TopicState{
			Name:              t.Name,
			TopicId:           t.ID,
			Partitions:        t.Partitions,
			ReplicationFactor: t.ReplicationFactor,
			Config:            maps.Clone(t.Overrides),
		}
		for _, a := range t.Assignments {
			ts.Assignments = append(ts.Assignments, &metav1.PartitionAssignment{Replicas: slices.Clone(a)})
		}
		for p, target := range t.Targets {
			if ts.Targets == nil {
				ts.Targets = map[int32]*metav1.PartitionAssignment{}
			}
			ts.Targets[p] = &metav1.PartitionAssignment{Replicas: slices.Clone(target)}
		}
		for p, moved := range t.Moved {
			if moved {
				ts.Moved = append(ts.Moved, int32(p))
			}
		}
		snap.Topics = append(snap.Topics, ts)
	}
	known := map[int32]bool{}
	for _, m := range []map[int32]bool{c.decommissioning, c.removed} {
		maps.Copy(known, m)
	}
	for id := range c.brokers {
		known[id] = true
	}
	for id := range c.versions {
		known[id] = true
	}
	ids := slices.Collect(maps.Keys(known))
	for _, id := range ids {
		addrs, registered := c.brokers[id]
		snap.Brokers = append(snap.Brokers, &metav1.BrokerState{NodeId: id, Registered: registered,
			Address: addrs.Client, PeerAddress: addrs.Peer, Version: c.versions[id],
			Decommissioning: c.decommissioning[id], Removed: c.removed[id]})
	}
	for _, a := range c.acls {
		snap.Acls = append(snap.Acls, ACLRecord(a))
	}
	snap.Quotas = c.quotaRecords()
	c.mu.RUnlock()
	slices.SortFunc(snap.Topics, func(a, b *metav1.TopicState) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(snap.Brokers, func(a, b *metav1.BrokerState) int { return int(a.NodeId) - int(b.NodeId) })
	return proto.MarshalOptions{Deterministic: true}.Marshal(snap)
}

// Restore replaces the catalog with a Snapshot of one, taken here or on
// another broker. Applying the records after the snapshot then builds the
// catalog applying every record builds.
func (c *Catalog) Restore(data []byte) error {
	var snap metav1.CatalogSnapshot
	if err := proto.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("catalog snapshot: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("catalog snapshot of version %d: this broker reads version %d", snap.Version, snapshotVersion)
	}
	topics := make(map[string]*Topic, len(snap.Topics))
	for _, ts := range snap.Topics {
		cfg, err := ParseConfig(ts.Config)
		if err != nil {
			return fmt.Errorf("catalog snapshot: topic %q: %w", ts.Name, err)
		}
		if int(ts.Partitions) != len(ts.Assignments) {
			return fmt.Errorf("catalog snapshot: topic %q has %d partitions and %d assignments", ts.Name, ts.Partitions, len(ts.Assignments))
		}
		t := &Topic{
			Name:              ts.Name,
			ID:                ts.TopicId,
			Partitions:        ts.Partitions,
			ReplicationFactor: ts.ReplicationFactor,
			Overrides:         ts.Config,
			Config:            cfg,
		}
		for _, a := range ts.Assignments {
			t.Assignments = append(t.Assignments, slices.Clone(a.Replicas))
		}
		// NB: as a change leaves them (clone): a topic ever reassigned
		// has both, one never reassigned neither.
		if len(ts.Targets) > 0 || len(ts.Moved) > 0 {
			t.Targets = make(map[int32][]int32, len(ts.Targets))
			for p, a := range ts.Targets {
				t.Targets[p] = slices.Clone(a.Replicas)
			}
			t.Moved = make([]bool, t.Partitions)
			for _, p := range ts.Moved {
				if p < 0 || p >= t.Partitions {
					return fmt.Errorf("catalog snapshot: topic %q has no partition %d", ts.Name, p)
				}
				t.Moved[p] = true
			}
		}
		topics[t.Name] = t
	}
	brokers := make(map[int32]BrokerAddresses, len(snap.Brokers))
	versions := make(map[int32]string, len(snap.Brokers))
	decommissioning, removed := map[int32]bool{}, map[int32]bool{}
	for _, b := range snap.Brokers {
		if b.Decommissioning {
			decommissioning[b.NodeId] = true
		}
		if b.Removed {
			removed[b.NodeId] = true
		}
		if b.Registered {
			brokers[b.NodeId] = BrokerAddresses{Client: b.Address, Peer: b.PeerAddress}
		}
		if b.Version != "" {
			versions[b.NodeId] = b.Version
		}
	}
	acls := make([]authz.ACL, 0, len(snap.Acls))
	for _, b := range snap.Acls {
		a := ACLFromRecord(b)
		if err := a.Validate(); err != nil {
			return fmt.Errorf("catalog snapshot: ACL %v: %w", a, err)
		}
		acls = append(acls, a)
	}
	if !slices.IsSortedFunc(acls, authz.Compare) {
		return fmt.Errorf("catalog snapshot: its ACLs are not sorted")
	}
	quotas, err := restoreQuotas(snap.Quotas)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clusterID, c.topics, c.brokers, c.versions = snap.ClusterId, topics, brokers, versions
	c.decommissioning, c.removed = decommissioning, removed
	c.acls = acls
	c.aclVersion++
	c.quotas = quotas
	c.quotaVersion.Add(1)
	return nil
}
