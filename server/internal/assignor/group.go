package assignor

import (
	"cmp"
	"slices"
)

// group is the input in the form both assignors work from, the same
// whatever the order of the caller's slices: members sorted by ID, and
// every topic that exists and has a subscriber, sorted by name.
type group struct {
	members []member
	topics  []topic
}

type member struct {
	id string
	// topics it subscribes to that exist: sorted, without duplicates.
	topics []string
	// owned partitions that still exist, of topics it still subscribes
	// to: sorted, without duplicates.
	owned []Partition
}

type topic struct {
	name       string
	partitions int32
	// subscribers are indexes into group.members, ascending: by ID.
	subscribers []int
}

// newGroup normalizes the input. A member listed twice is taken as one,
// with both subscriptions and both assignments, so that the result does
// not depend on which entry comes first. A partition count of 0 or less
// is a topic that does not exist.
func newGroup(members []Member, partitions map[string]int32) *group {
	g := &group{}
	for _, m := range mergeByID(members) {
		g.members = append(g.members, normalize(m, partitions))
	}
	subscribers := map[string][]int{}
	for i, m := range g.members {
		for _, name := range m.topics {
			subscribers[name] = append(subscribers[name], i)
		}
	}
	for name, subs := range subscribers {
		g.topics = append(g.topics, topic{name: name, partitions: partitions[name], subscribers: subs})
	}
	slices.SortFunc(g.topics, func(a, b topic) int { return cmp.Compare(a.name, b.name) })
	return g
}

// mergeByID sorts members by ID and joins the entries of one ID.
func mergeByID(members []Member) []Member {
	sorted := slices.Clone(members)
	slices.SortStableFunc(sorted, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	var out []Member
	for _, m := range sorted {
		if n := len(out); n > 0 && out[n-1].ID == m.ID {
			last := &out[n-1]
			last.Topics = append(slices.Clip(last.Topics), m.Topics...)
			last.Owned = append(slices.Clip(last.Owned), m.Owned...)
			continue
		}
		out = append(out, m)
	}
	return out
}

// normalize keeps the subscriptions to existing topics and the owned
// partitions that are still valid, each sorted once and for all.
func normalize(m Member, partitions map[string]int32) member {
	out := member{id: m.ID}
	for _, name := range m.Topics {
		if partitions[name] > 0 {
			out.topics = append(out.topics, name)
		}
	}
	slices.Sort(out.topics)
	out.topics = slices.Compact(out.topics)
	for _, p := range m.Owned {
		_, subscribed := slices.BinarySearch(out.topics, p.Topic)
		if subscribed && p.Partition >= 0 && p.Partition < partitions[p.Topic] {
			out.owned = append(out.owned, p)
		}
	}
	slices.SortFunc(out.owned, comparePartitions)
	out.owned = slices.Compact(out.owned)
	return out
}

// comparePartitions orders by topic, then partition: the order of
// Assign's result.
func comparePartitions(a, b Partition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// emptyResult has an empty assignment for every member.
func (g *group) emptyResult() map[string][]Partition {
	out := make(map[string][]Partition, len(g.members))
	for _, m := range g.members {
		out[m.id] = []Partition{}
	}
	return out
}
