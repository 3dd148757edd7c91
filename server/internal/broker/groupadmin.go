package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/group"
	"github.com/runnel-broker/runnel/server/internal/offsets"
	"github.com/runnel-broker/runnel/server/internal/records"
)

var (
	// ErrGroupNotFound: a group with neither members nor committed offsets.
	ErrGroupNotFound = errors.New("group not found")
	// ErrGroupNotEmpty: a change only a group without members may take.
	ErrGroupNotEmpty = errors.New("group not empty")
)

// GroupListing is a group as ListGroups shows it.
type GroupListing struct {
	Name        string
	Coordinator int32 // 0: none known
}

// ListGroups returns the groups this broker knows of: every group with
// committed offsets (the offsets log is replicated on every broker), and
// the groups it coordinates. In a cluster, a group with members but no
// commits is known to its coordinator only: the server asks them all.
func (b *Broker) ListGroups() []GroupListing {
	names := b.offsets.Groups()
	b.groups.mu.Lock()
	for name, cg := range b.groups.groups {
		if !cg.g.Empty() {
			names = append(names, name)
		}
	}
	b.groups.mu.Unlock()
	slices.Sort(names)
	var out []GroupListing
	for _, name := range slices.Compact(names) {
		out = append(out, GroupListing{Name: name, Coordinator: int32(b.offsetParts[offsets.PartitionFor(name)].Leader())})
	}
	return out
}

// GroupState is a group as its coordinator sees it.
type GroupState struct {
	Name        string
	Coordinator Member
	Epoch       int32
	Assignor    string
	Members     []group.MemberState
	// Committed is the group's offsets by topic name and partition (in
	// topics that exist).
	Committed map[string]map[int32]int64
}

// Stable says whether every member has its target assignment.
func (s GroupState) Stable() bool {
	for _, m := range s.Members {
		if len(m.Revoking) > 0 || !slices.Equal(m.Owned, m.Target) {
			return false
		}
	}
	return true
}

// DescribeGroup returns the group's members and offsets, on its
// coordinator (elsewhere a *NotCoordinatorError).
func (b *Broker) DescribeGroup(name string) (GroupState, error) {
	if err := ValidateGroup(name); err != nil {
		return GroupState{}, err
	}
	c := b.groups
	c.mu.Lock()
	cg, err := c.coordinatedLocked(name)
	var st GroupState
	if err == nil {
		st = GroupState{Name: name, Epoch: cg.g.Epoch(), Members: cg.g.Members(), Assignor: b.assignor.Name()}
	}
	c.mu.Unlock()
	if err != nil {
		return GroupState{}, err
	}
	st.Coordinator, _ = b.Member(b.cfg.NodeID)
	st.Committed = b.committedByName(name)
	if len(st.Members) == 0 && len(st.Committed) == 0 {
		return GroupState{}, errs.Newf(ErrGroupNotFound, "group %q has no members and no committed offsets", name)
	}
	return st, nil
}

// committedByName returns group's committed offsets by topic name.
func (b *Broker) committedByName(name string) map[string]map[int32]int64 {
	byID := b.offsets.Group(name)
	out := map[string]map[int32]int64{}
	for _, t := range b.catalog.Topics() {
		if m, ok := byID[t.ID]; ok {
			out[t.Name] = m
		}
	}
	return out
}

// DeleteGroup deletes the committed offsets of a group without members,
// on its coordinator.
func (b *Broker) DeleteGroup(ctx context.Context, name string) error {
	if err := ValidateGroup(name); err != nil {
		return err
	}
	byID := b.offsets.Group(name)
	if len(byID) == 0 {
		return errs.Newf(ErrGroupNotFound, "group %q has no committed offsets", name)
	}
	names := map[string]string{} // topic id → name, of the topics that exist
	for _, t := range b.catalog.Topics() {
		names[t.ID] = t.Name
	}
	now := timestamppb.Now()
	var recs []records.Record
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		for _, p := range slices.Sorted(maps.Keys(byID[id])) {
			// NB: a negative offset deletes (offsets.Table.Apply), under
			// the commit's key.
			c := &metav1.OffsetCommit{Group: name, Topic: names[id], TopicId: id, Partition: p, Offset: -1, CommitTime: now}
			value, err := proto.Marshal(c)
			if err != nil {
				return err
			}
			recs = append(recs, records.New(offsets.Key(c), value, records.Timestamp{Seconds: now.Seconds, Nanos: now.Nanos}))
		}
	}
	return b.groups.commitChecked(ctx, name, func(g *group.Group) ([]records.Record, error) {
		return recs, checkEmpty(g, fmt.Sprintf("stop them first (a member whose stream broke stays for the session timeout, %v)", b.cfg.GroupSessionTimeout))
	})
}

// ResetOffsets commits positions for a group without members, on its
// coordinator; with dryRun it only checks that it could.
func (b *Broker) ResetOffsets(ctx context.Context, name, topic string, positions map[int32]int64, dryRun bool) error {
	if !dryRun {
		return b.Commit(ctx, name, topic, positions, MemberCommit{})
	}
	if err := ValidateGroup(name); err != nil {
		return err
	}
	c := b.groups
	c.mu.Lock()
	defer c.mu.Unlock()
	cg, err := c.coordinatedLocked(name)
	if err != nil {
		return err
	}
	return checkEmpty(cg.g, fmt.Sprintf("stop them first (a member whose stream broke stays for the session timeout, %v)", b.cfg.GroupSessionTimeout))
}

// GroupStat is a group this broker coordinates, for the metrics.
type GroupStat struct {
	Name    string
	Members int
	// Epoch is the group epoch: the rebalances since this broker took the
	// group (it starts at 0 on a new coordinator).
	Epoch int32
}

// GroupStats reports the groups this broker coordinates.
func (b *Broker) GroupStats() []GroupStat {
	c := b.groups
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]GroupStat, 0, len(c.groups))
	for _, name := range slices.Sorted(maps.Keys(c.groups)) {
		cg := c.groups[name]
		out = append(out, GroupStat{Name: name, Members: cg.g.Size(), Epoch: cg.g.Epoch()})
	}
	return out
}

// GroupLag is how far a group's committed offset is behind a
// partition's high watermark.
type GroupLag struct {
	Group, Topic string
	Partition    int32
	Lag          int64
}

// GroupLags reports the lag of every group with a committed offset in a
// partition this broker leads: each partition's leader reports it (it has
// the newest high watermark, and every broker has every group's offsets),
// so that the cluster's brokers together report each lag once.
func (b *Broker) GroupLags() []GroupLag {
	led := map[string]map[int32]int64{} // topic id → partition → high watermark
	names := map[string]string{}
	for _, t := range b.catalog.Topics() {
		for p := range t.Partitions {
			part := b.store.Partition(partitionName(t.Name, p))
			if part == nil || part.Leader() != uint64(b.cfg.NodeID) {
				continue
			}
			if led[t.ID] == nil {
				led[t.ID], names[t.ID] = map[int32]int64{}, t.Name
			}
			led[t.ID][p] = part.HighWatermark()
		}
	}
	var out []GroupLag
	for _, g := range b.offsets.Groups() {
		byID := b.offsets.Group(g)
		for _, id := range slices.Sorted(maps.Keys(byID)) {
			for _, p := range slices.Sorted(maps.Keys(byID[id])) {
				if hw, ok := led[id][p]; ok {
					out = append(out, GroupLag{Group: g, Topic: names[id], Partition: p, Lag: max(hw-byID[id][p], 0)})
				}
			}
		}
	}
	return out
}
