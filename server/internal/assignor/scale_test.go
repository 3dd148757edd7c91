package assignor

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// bigGroup is a group of n members over topics×perTopic partitions. In a
// homogeneous one every member subscribes to every topic. Otherwise each
// subscribes to a seeded random half of them (at least one), and, for the
// corners, the first member only to a topic that does not exist (it gets
// nothing), the second alone to one more topic (it holds far more than
// the others).
func bigGroup(n, topics int, perTopic int32, homogeneous bool) ([]Member, map[string]int32) {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(topics)))
	partitions := map[string]int32{}
	var names []string
	for t := range topics {
		name := fmt.Sprintf("topic-%03d", t)
		names = append(names, name)
		partitions[name] = perTopic
	}
	members := make([]Member, n)
	for i := range members {
		members[i].ID = fmt.Sprintf("member-%04d", i)
		members[i].Topics = names
		if !homogeneous {
			members[i].Topics = []string{names[rng.IntN(topics)]}
			for _, name := range names {
				if rng.IntN(2) == 0 && !slices.Contains(members[i].Topics, name) {
					members[i].Topics = append(members[i].Topics, name)
				}
			}
		}
	}
	if !homogeneous && n >= 2 {
		members[0].Topics = []string{"not-created"}
		partitions["solo"] = perTopic
		members[1].Topics = append(slices.Clip(members[1].Topics), "solo")
	}
	return members, partitions
}

// settle assigns and makes the result what the members own.
func settle(a Assignor, members []Member, partitions map[string]int32) []Member {
	got := a.Assign(members, partitions)
	out := slices.Clone(members)
	for i := range out {
		out[i].Owned = got[out[i].ID]
	}
	return out
}

// withJoiner adds a member owning nothing, subscribed as the last one.
func withJoiner(members []Member) []Member {
	return append(slices.Clone(members), Member{ID: "joiner", Topics: members[len(members)-1].Topics})
}

// oneOwnsAll has the first member subscribe to every topic and own every
// partition, as if all the others had joined at once.
func oneOwnsAll(members []Member, partitions map[string]int32) []Member {
	out := slices.Clone(members)
	out[0].Topics, out[0].Owned = nil, nil
	for _, name := range slices.Sorted(maps.Keys(partitions)) {
		out[0].Topics = append(out[0].Topics, name)
		for p := range partitions[name] {
			out[0].Owned = append(out[0].Owned, Partition{name, p})
		}
	}
	return out
}

// TestScale checks the rules on 10,000 partitions over 1,000 members:
// from nothing, after a join, after a leave, and from one member owning
// everything. BenchmarkScale measures the time.
func TestScale(t *testing.T) {
	for _, homogeneous := range []bool{true, false} {
		for _, a := range []Assignor{Uniform(), Range()} {
			t.Run(fmt.Sprintf("%s/homogeneous=%v", a.Name(), homogeneous), func(t *testing.T) {
				members, partitions := bigGroup(1000, 20, 500, homogeneous)
				settled := settle(a, members, partitions)
				for what, input := range map[string][]Member{
					"first":        members,
					"join":         withJoiner(settled),
					"leave":        settled[1:],
					"one-owns-all": oneOwnsAll(members, partitions),
				} {
					if err := checkRules(a, input, partitions, a.Assign(input, partitions)); err != nil {
						t.Errorf("%s: %v", what, err)
					}
				}
			})
		}
	}
}

// BenchmarkUniform: 100 members over 1,000 partitions (10 topics of
// 100), balanced, then one more joins.
func BenchmarkUniform(b *testing.B) {
	members, partitions := bigGroup(100, 10, 100, true)
	benchmarkAssign(b, Uniform(), withJoiner(settle(Uniform(), members, partitions)), partitions)
}

// BenchmarkUniformHeterogeneous: the same with each member subscribing
// to a random half of the topics.
func BenchmarkUniformHeterogeneous(b *testing.B) {
	members, partitions := bigGroup(100, 10, 100, false)
	benchmarkAssign(b, Uniform(), withJoiner(settle(Uniform(), members, partitions)), partitions)
}

func BenchmarkRange(b *testing.B) {
	members, partitions := bigGroup(100, 10, 100, true)
	benchmarkAssign(b, Range(), withJoiner(settle(Range(), members, partitions)), partitions)
}

// BenchmarkScale: 1,000 members over 10,000 partitions (20 topics of
// 500): from nothing, one joining a balanced group, and all but one
// joining at once.
func BenchmarkScale(b *testing.B) {
	for _, homogeneous := range []bool{true, false} {
		for _, a := range []Assignor{Uniform(), Range()} {
			members, partitions := bigGroup(1000, 20, 500, homogeneous)
			name := fmt.Sprintf("%s/homogeneous=%v", a.Name(), homogeneous)
			b.Run(name+"/first", func(b *testing.B) { benchmarkAssign(b, a, members, partitions) })
			joined := withJoiner(settle(a, members, partitions))
			b.Run(name+"/join", func(b *testing.B) { benchmarkAssign(b, a, joined, partitions) })
			crowd := oneOwnsAll(members, partitions)
			b.Run(name+"/one-owns-all", func(b *testing.B) { benchmarkAssign(b, a, crowd, partitions) })
		}
	}
}

func benchmarkAssign(b *testing.B, a Assignor, members []Member, partitions map[string]int32) {
	b.ReportAllocs()
	for b.Loop() {
		a.Assign(members, partitions)
	}
}
