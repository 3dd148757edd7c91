package assignor

// rangeAssignor lays out each topic on its own: the topic's subscribers,
// sorted by ID, take contiguous ranges in turn, and the first
// partitions%subscribers of them one partition more. Topics with the same
// partition count and the same subscribers therefore line up: a member
// gets the same partition numbers of each (co-partitioning, for joins).
//
// It is layout-first: the layout is a function of the subscribers' IDs
// and the partition counts alone, so Owned plays no part. Stickiness is
// what the layout gives: a topic whose subscribers and partition count
// did not change keeps its layout exactly, whatever else changes; in one
// that did, the range boundaries shift and partitions may move between
// members that stayed. Kafka's server-side RangeAssignor is layout-first
// too.
type rangeAssignor struct{}

func (rangeAssignor) Name() string { return "range" }

func (rangeAssignor) Assign(members []Member, partitions map[string]int32) map[string][]Partition {
	g := newGroup(members, partitions)
	out := g.emptyResult()
	// Topics in name order and each range in ascending order: every
	// member's slice comes out sorted.
	for _, t := range g.topics {
		for i, sub := range t.subscribers {
			id := g.members[sub].id
			start, end := rangeOf(i, len(t.subscribers), t.partitions)
			for p := start; p < end; p++ {
				out[id] = append(out[id], Partition{Topic: t.name, Partition: p})
			}
		}
	}
	return out
}

// rangeOf is the range [start, end) of partitions that the i-th of n
// subscribers gets: partitions/n each, and one more for the first
// partitions%n.
func rangeOf(i, n int, partitions int32) (start, end int32) {
	size, extra := partitions/int32(n), partitions%int32(n)
	start = int32(i)*size + min(int32(i), extra)
	end = start + size
	if int32(i) < extra {
		end++
	}
	return start, end
}
