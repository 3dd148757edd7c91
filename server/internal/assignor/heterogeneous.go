package assignor

import (
	"cmp"
	"slices"
)

// balanceHeterogeneous balances a group whose members subscribe to
// different topics, after Kafka's UniformHeterogeneousAssignmentBuilder:
//
//  1. the unowned partitions go out most constrained first (the topics
//     with the fewest subscribers), each to its least loaded subscriber,
//     so that the members with the fewest choices are served while they
//     still have room;
//  2. single moves: a partition goes from a member to a subscriber of its
//     topic holding at least two fewer, until no such move is left;
//  3. chains, where no single move helps: a gives b a partition of X, b
//     gives c one of Y, so that a holds one fewer and c one more, when c
//     holds at least two fewer than a; the shortest chain first, and back
//     to single moves after each.
//
// Every move or chain narrows a gap of two or more between two members,
// which lowers the sum of the squares of the loads, so it ends; and
// nothing moves but to narrow such a gap (stickiness). When no chain is
// left the balance is the best the subscriptions allow: an assignment
// minimizes the largest load and the sum of the squares alike exactly
// when no such chain exists (Harvey, Ladner, Lovász and Tamir,
// "Semi-matchings for bipartite graphs and load balancing", 2006).
func (p *placement) balanceHeterogeneous() {
	order := p.byConstraint()
	for _, t := range order {
		subs := p.g.topics[t].subscribers
		for part, m := range p.owner[t] {
			if m == unowned {
				p.give(t, int32(part), p.leastLoaded(subs, func(int) bool { return true }))
			}
		}
	}
	h := p.holdings()
	for {
		p.evenOut(order, h)
		if !p.shiftAlongChain(h) {
			return
		}
	}
}

// byConstraint orders the topics by how many members subscribe to them,
// fewest first, then by name.
func (p *placement) byConstraint() []int {
	order := make([]int, len(p.g.topics))
	for t := range order {
		order[t] = t
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(len(p.g.topics[a].subscribers), len(p.g.topics[b].subscribers))
	})
	return order
}

// holdings are, per topic and per subscriber of it (by its place in the
// topic's subscribers), the partitions it holds, ascending. They let a
// member give up a partition of a topic without a scan of the topic.
type holdings [][][]int32

func (p *placement) holdings() holdings {
	h := make(holdings, len(p.g.topics))
	for t, tp := range p.g.topics {
		h[t] = make([][]int32, len(tp.subscribers))
		for part, m := range p.owner[t] {
			i := p.subscriberAt(t, m)
			h[t][i] = append(h[t][i], int32(part))
		}
	}
	return h
}

// subscriberAt is m's place among the subscribers of topic t.
func (p *placement) subscriberAt(t, m int) int {
	i, _ := slices.BinarySearch(p.g.topics[t].subscribers, m)
	return i
}

// move hands the highest partition of topic t that from holds to to
// (places among t's subscribers).
func (p *placement) move(h holdings, t, from, to int) {
	held := h[t]
	last := len(held[from]) - 1
	part := held[from][last]
	held[from] = held[from][:last]
	at, _ := slices.BinarySearch(held[to], part)
	held[to] = slices.Insert(held[to], at, part)
	p.take(t, part)
	p.give(t, part, p.g.topics[t].subscribers[to])
}

// evenOut makes the single moves, topic by topic in order, until a pass
// over all of them moves nothing.
func (p *placement) evenOut(order []int, h holdings) {
	for moved := true; moved; {
		moved = false
		for _, t := range order {
			for p.moveOne(t, h) {
				moved = true
			}
		}
	}
}

// moveOne moves one partition of topic t from its most loaded holder to
// its least loaded subscriber (the first by ID among equals), if they are
// at least two apart.
func (p *placement) moveOne(t int, h holdings) bool {
	subs := p.g.topics[t].subscribers
	donor, receiver := -1, -1
	for i, m := range subs {
		if len(h[t][i]) > 0 && (donor == -1 || p.load[m] > p.load[subs[donor]]) {
			donor = i
		}
		if receiver == -1 || p.load[m] < p.load[subs[receiver]] {
			receiver = i
		}
	}
	if donor == -1 || p.load[subs[donor]]-p.load[subs[receiver]] < 2 {
		return false
	}
	p.move(h, t, donor, receiver)
	return true
}

// link is one step of a chain: from gives to a partition of topic (all
// indexes: into group.members and group.topics).
type link struct {
	topic, from, to int
}

// shiftAlongChain looks for a chain from the members holding the most to
// one holding at least two fewer, then from those holding the next most,
// and so on, and shifts a partition along the first it finds. One search
// serves all the members of a load, so a call costs a search per distinct
// load at most, however many members there are. Members subscribing to
// nothing that exists hold nothing and are no chain's end: they do not
// count as the least loaded.
func (p *placement) shiftAlongChain(h holdings) bool {
	var loads []int
	for m, mem := range p.g.members {
		if len(mem.topics) > 0 {
			loads = append(loads, p.load[m])
		}
	}
	if len(loads) == 0 {
		return false
	}
	slices.Sort(loads)
	lowest := loads[0]
	levels := slices.Compact(loads)
	for i := len(levels) - 1; i >= 0 && levels[i] >= lowest+2; i-- {
		if chain := p.chainFrom(levels[i], h); chain != nil {
			for _, l := range chain {
				p.move(h, l.topic, p.subscriberAt(l.topic, l.from), p.subscriberAt(l.topic, l.to))
			}
			return true
		}
	}
	return false
}

// chainFrom is the shortest chain from a member holding level partitions
// to one holding at least two fewer, or nil: a breadth-first search from
// all the members at that level (by ID), through the topics each member
// holds partitions of, to their subscribers. Each topic is passed through
// once, so that no member gives and receives in the same topic.
func (p *placement) chainFrom(level int, h holdings) []link {
	reached := make([]bool, len(p.g.members))
	crossed := make([]bool, len(p.g.topics))
	via := make([]link, len(p.g.members)) // the link that reached each member
	var queue []int
	for m := range p.g.members {
		if p.load[m] == level {
			reached[m], via[m] = true, link{from: -1}
			queue = append(queue, m)
		}
	}
	for ; len(queue) > 0; queue = queue[1:] {
		from := queue[0]
		for _, name := range p.g.members[from].topics {
			t := p.topicAt[name]
			if crossed[t] || len(h[t][p.subscriberAt(t, from)]) == 0 {
				continue
			}
			crossed[t] = true
			for _, to := range p.g.topics[t].subscribers {
				if reached[to] {
					continue
				}
				reached[to], via[to] = true, link{topic: t, from: from, to: to}
				if p.load[to] <= level-2 {
					return chainTo(to, via)
				}
				queue = append(queue, to)
			}
		}
	}
	return nil
}

// chainTo follows via back from end to the member the chain starts at.
func chainTo(end int, via []link) []link {
	var chain []link
	for m := end; via[m].from != -1; m = via[m].from {
		chain = append(chain, via[m])
	}
	slices.Reverse(chain)
	return chain
}
