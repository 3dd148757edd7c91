package offsets

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/partitioner"
)

// Partitions is how many partitions __consumer_offsets has. Changing it
// moves groups between partitions, so it is fixed.
const Partitions = 4

// Topic is the internal topic's name.
const Topic = "__consumer_offsets"

// PartitionFor returns the __consumer_offsets partition that stores
// group's commits.
func PartitionFor(group string) int32 {
	return partitioner.ForKey([]byte(group), Partitions)
}

// Key is the record key of a commit: one key per group, topic and
// partition, so that a compacting retention could keep only the last.
func Key(c *metav1.OffsetCommit) []byte {
	return fmt.Appendf(nil, "%s\x00%s\x00%d", c.Group, c.Topic, c.Partition)
}

// Table is the committed offsets of every group. Apply is called by the
// offsets partitions' raft goroutines, the getters by anyone.
type Table struct {
	mu      sync.RWMutex                   // guards offsets
	offsets map[groupTopic]map[int32]int64 // next offset to read
}

// groupTopic keys the table by topic id, not name: commits to a deleted
// topic never leak into a new topic of the same name.
type groupTopic struct{ group, topicID string }

// New returns an empty table.
func New() *Table { return &Table{offsets: make(map[groupTopic]map[int32]int64)} }

// Apply records one commit. A negative offset is a tombstone: the
// group's offset in that partition is deleted (DeleteGroup).
func (t *Table) Apply(c *metav1.OffsetCommit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := groupTopic{c.Group, c.TopicId}
	if c.Offset < 0 {
		delete(t.offsets[k], c.Partition)
		if len(t.offsets[k]) == 0 {
			delete(t.offsets, k)
		}
		return
	}
	m := t.offsets[k]
	if m == nil {
		m = make(map[int32]int64)
		t.offsets[k] = m
	}
	m[c.Partition] = c.Offset
}

// Committed returns group's committed offsets in the topic with this id,
// by partition.
func (t *Table) Committed(group, topicID string) map[int32]int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return maps.Clone(t.offsets[groupTopic{group, topicID}])
}

// Groups returns the groups with a committed offset, sorted.
func (t *Table) Groups() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var groups []string
	for k := range t.offsets {
		groups = append(groups, k.group)
	}
	slices.Sort(groups)
	return slices.Compact(groups)
}

// Group returns group's committed offsets, by topic id and partition.
func (t *Table) Group(group string) map[string]map[int32]int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string]map[int32]int64{}
	for k, m := range t.offsets {
		if k.group == group {
			out[k.topicID] = maps.Clone(m)
		}
	}
	return out
}

// snapshotVersion is the OffsetsSnapshot version this package writes and
// reads.
const snapshotVersion = 1

// Snapshot encodes the part of the table that partition's log builds: the
// groups whose commits it holds (PartitionFor), every commit applied so
// far. Called by that partition's raft goroutine right after an Apply.
func (t *Table) Snapshot(partition int32) ([]byte, error) {
	t.mu.RLock()
	snap := &metav1.OffsetsSnapshot{Version: snapshotVersion}
	for k, m := range t.offsets {
		if PartitionFor(k.group) == partition {
			snap.Groups = append(snap.Groups, &metav1.GroupOffsets{Group: k.group, TopicId: k.topicID, Offsets: maps.Clone(m)})
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(snap.Groups, func(a, b *metav1.GroupOffsets) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.TopicId, b.TopicId))
	})
	return proto.MarshalOptions{Deterministic: true}.Marshal(snap)
}

// Restore replaces the part of the table that partition's log builds with
// a Snapshot of it, taken here or on another broker.
func (t *Table) Restore(partition int32, data []byte) error {
	var snap metav1.OffsetsSnapshot
	if err := proto.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("offsets snapshot: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("offsets snapshot of version %d: this broker reads version %d", snap.Version, snapshotVersion)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.offsets {
		if PartitionFor(k.group) == partition {
			delete(t.offsets, k)
		}
	}
	for _, g := range snap.Groups {
		m := make(map[int32]int64, len(g.Offsets))
		maps.Copy(m, g.Offsets)
		t.offsets[groupTopic{g.Group, g.TopicId}] = m
	}
	return nil
}
