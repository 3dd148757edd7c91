package catalog

import (
	"fmt"
	"slices"
	"sync"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
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
	Assignments [][]int32 // replicas per partition
}

// Change says what applying a record did, so that the broker can open or
// delete partitions.
type Change struct {
	Created *Topic
	Deleted *Topic
}

// Catalog holds the topics. Apply is called by the metadata partition's
// raft goroutine; the getters by anyone.
type Catalog struct {
	mu        sync.RWMutex // guards the fields below
	clusterID string
	topics    map[string]*Topic
}

// New returns an empty catalog.
func New() *Catalog { return &Catalog{topics: make(map[string]*Topic)} }

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
			return Change{}, fmt.Errorf("topic %q: %w", tc.Name, ErrTopicExists)
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
			return Change{}, fmt.Errorf("topic %q: %w", x.TopicDeleted.Name, ErrTopicNotFound)
		}
		delete(c.topics, t.Name)
		return Change{Deleted: t}, nil
	default:
		return Change{}, fmt.Errorf("unknown metadata record %T", r.Change)
	}
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
		return nil, fmt.Errorf("topic %q: %w", name, ErrTopicNotFound)
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
