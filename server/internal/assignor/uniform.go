package assignor

import (
	"cmp"
	"slices"
)

// uniform spreads partitions evenly over the members, sticking to what
// they own. Like Kafka's server-side UniformAssignor it has two builders:
// one for a homogeneous group (every member subscribes to every topic),
// where balance and the fewest moves can both be had exactly and simply,
// and one for the heterogeneous case (heterogeneous.go).
type uniform struct{}

func (uniform) Name() string { return "uniform" }

func (uniform) Assign(members []Member, partitions map[string]int32) map[string][]Partition {
	g := newGroup(members, partitions)
	p := newPlacement(g)
	p.keepOwned()
	if g.homogeneous() {
		p.balanceHomogeneous()
	} else {
		p.balanceHeterogeneous()
	}
	return p.result()
}

// homogeneous says every member subscribes to every topic (that exists):
// the members all have the same choice of partitions.
func (g *group) homogeneous() bool {
	for _, m := range g.members {
		if len(m.topics) != len(g.topics) {
			return false
		}
	}
	return true
}

// placement is who holds which partition while the uniform assignor
// works: an index into group.members, or unowned.
type placement struct {
	g       *group
	topicAt map[string]int // index into g.topics
	owner   [][]int        // per topic, per partition
	load    []int          // per member: how many it holds
}

const unowned = -1

func newPlacement(g *group) *placement {
	p := &placement{g: g, topicAt: map[string]int{}, owner: make([][]int, len(g.topics)), load: make([]int, len(g.members))}
	for t, tp := range g.topics {
		p.topicAt[tp.name] = t
		p.owner[t] = slices.Repeat([]int{unowned}, int(tp.partitions))
	}
	return p
}

// keepOwned gives every member back what it owns (stickiness), before
// any balancing. Owned partitions are valid already (newGroup); one that
// two members claim stays with the first by ID.
func (p *placement) keepOwned() {
	for m, mem := range p.g.members {
		for _, part := range mem.owned {
			t := p.topicAt[part.Topic]
			if p.owner[t][part.Partition] == unowned {
				p.give(t, part.Partition, m)
			}
		}
	}
}

func (p *placement) give(t int, part int32, m int) {
	p.owner[t][part] = m
	p.load[m]++
}

func (p *placement) take(t int, part int32) {
	p.load[p.owner[t][part]]--
	p.owner[t][part] = unowned
}

// result reads the placement out, in topic then partition order.
func (p *placement) result() map[string][]Partition {
	out := p.g.emptyResult()
	for t, owners := range p.owner {
		for part, m := range owners {
			id := p.g.members[m].id
			out[id] = append(out[id], Partition{Topic: p.g.topics[t].name, Partition: int32(part)})
		}
	}
	return out
}

// leastLoaded is the candidate holding the fewest partitions, the first
// by ID among equals; -1 if there is none.
func (p *placement) leastLoaded(candidates []int, eligible func(m int) bool) int {
	best := -1
	for _, m := range candidates {
		if eligible(m) && (best == -1 || p.load[m] < p.load[best]) {
			best = m
		}
	}
	return best
}

// balanceHomogeneous: with P partitions and M members, balance means
// every member holds P/M, and P%M of them one more. Giving the extra ones
// to the members that own the most keeps the most where they are, so the
// partitions that move are exactly those a member owns above its quota:
// the fewest any balanced assignment can move.
func (p *placement) balanceHomogeneous() {
	quota := p.quotas()
	p.shedAbove(quota)
	all := make([]int, len(p.g.members))
	for m := range all {
		all[m] = m
	}
	for t, owners := range p.owner {
		for part, m := range owners {
			if m != unowned {
				continue
			}
			// The least loaded first spreads each topic over the members.
			to := p.leastLoaded(all, func(m int) bool { return p.load[m] < quota[m] })
			p.give(t, int32(part), to)
		}
	}
}

// quotas is how many partitions each member ends with: P/M, and one more
// for the P%M members owning the most (the first by ID among equals).
func (p *placement) quotas() []int {
	total := 0
	for _, t := range p.g.topics {
		total += int(t.partitions)
	}
	n := len(p.g.members)
	byOwned := make([]int, n)
	for m := range byOwned {
		byOwned[m] = m
	}
	slices.SortStableFunc(byOwned, func(a, b int) int { return cmp.Compare(p.load[b], p.load[a]) })
	quota := make([]int, n)
	for i, m := range byOwned {
		quota[m] = total / n
		if i < total%n {
			quota[m]++
		}
	}
	return quota
}

// shedAbove takes from each member what it holds above its quota. It
// sheds its highest-numbered partitions first, across topics, so that
// what it keeps and what it gives up each spread over the topics rather
// than one topic going whole.
func (p *placement) shedAbove(quota []int) {
	held := p.heldByMember()
	for m, parts := range held {
		slices.SortFunc(parts, func(a, b topicPartition) int {
			return cmp.Or(cmp.Compare(a.part, b.part), cmp.Compare(a.topic, b.topic))
		})
		for i := len(parts) - 1; p.load[m] > quota[m]; i-- {
			p.take(parts[i].topic, parts[i].part)
		}
	}
}

type topicPartition struct {
	topic int // index into group.topics
	part  int32
}

func (p *placement) heldByMember() [][]topicPartition {
	held := make([][]topicPartition, len(p.g.members))
	for t, owners := range p.owner {
		for part, m := range owners {
			if m != unowned {
				held[m] = append(held[m], topicPartition{topic: t, part: int32(part)})
			}
		}
	}
	return held
}
