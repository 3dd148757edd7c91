package assignor

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// checkRules checks an assignment, got = a.Assign(members, partitions),
// against the rules that the package doc promises, computed here the
// plain way rather than as the assignors do.
func checkRules(a Assignor, members []Member, partitions map[string]int32, got map[string][]Partition) error {
	checks := []func() error{
		func() error { return checkCoverage(members, partitions, got) },
		func() error { return checkDeterministic(a, members, partitions, got) },
		func() error { return checkStable(a, members, partitions, got) },
	}
	switch a.Name() {
	case "uniform":
		checks = append(checks,
			func() error { return checkBalance(members, partitions, got) },
			func() error { return checkFewestMoves(members, partitions, got) })
	case "range":
		checks = append(checks, func() error { return checkRanges(members, partitions, got) })
	}
	var errs []error
	for _, check := range checks {
		errs = append(errs, check())
	}
	return errors.Join(errs...)
}

// subscribes says whether m subscribes to topic, and the topic exists.
func subscribes(m Member, topic string, partitions map[string]int32) bool {
	return partitions[topic] > 0 && slices.Contains(m.Topics, topic)
}

// checkCoverage: a sorted slice for every member and no one else; every
// partition of every subscribed topic to exactly one of its subscribers;
// no other partition.
func checkCoverage(members []Member, partitions map[string]int32, got map[string][]Partition) error {
	byID := map[string]Member{}
	for _, m := range members {
		byID[m.ID] = m
	}
	if len(got) != len(byID) {
		return fmt.Errorf("%d members in the result, want %d", len(got), len(byID))
	}
	holder := map[Partition]string{}
	for id, parts := range got {
		m, ok := byID[id]
		if !ok {
			return fmt.Errorf("%s is in the result but not a member", id)
		}
		if parts == nil || !slices.IsSortedFunc(parts, comparePartitions) {
			return fmt.Errorf("%s: partitions nil or not sorted: %v", id, parts)
		}
		for _, p := range parts {
			if !subscribes(m, p.Topic, partitions) || p.Partition < 0 || p.Partition >= partitions[p.Topic] {
				return fmt.Errorf("%s holds %v, which it may not", id, p)
			}
			if other, ok := holder[p]; ok {
				return fmt.Errorf("%v is held by %s and %s", p, other, id)
			}
			holder[p] = id
		}
	}
	subscribed := map[string]bool{}
	for _, m := range members {
		for _, topic := range m.Topics {
			subscribed[topic] = true
		}
	}
	for topic := range subscribed {
		for i := range max(partitions[topic], 0) {
			if _, ok := holder[Partition{topic, i}]; !ok {
				return fmt.Errorf("%s-%d is subscribed to but unassigned", topic, i)
			}
		}
	}
	return nil
}

// checkDeterministic: the same input in another order gives the same
// result. The shuffles are seeded, so a failure repeats.
func checkDeterministic(a Assignor, members []Member, partitions map[string]int32, got map[string][]Partition) error {
	rng := rand.New(rand.NewPCG(uint64(len(members)), uint64(len(partitions))))
	for range 3 {
		shuffled := make([]Member, len(members))
		for k, m := range members {
			topics, owned := slices.Clone(m.Topics), slices.Clone(m.Owned)
			rng.Shuffle(len(topics), func(i, j int) { topics[i], topics[j] = topics[j], topics[i] })
			rng.Shuffle(len(owned), func(i, j int) { owned[i], owned[j] = owned[j], owned[i] })
			shuffled[k] = Member{ID: m.ID, Topics: topics, Owned: owned}
		}
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if again := a.Assign(shuffled, maps.Clone(partitions)); !reflect.DeepEqual(again, got) {
			return fmt.Errorf("shuffled input, other result:\n%v\nwant\n%v", again, got)
		}
	}
	return nil
}

// checkStable: assigning again, each member owning what it got, changes
// nothing. An assignor that did would churn at every heartbeat.
func checkStable(a Assignor, members []Member, partitions map[string]int32, got map[string][]Partition) error {
	owning := make([]Member, len(members))
	for i, m := range members {
		owning[i] = Member{ID: m.ID, Topics: m.Topics, Owned: got[m.ID]}
	}
	if again := a.Assign(owning, partitions); !reflect.DeepEqual(again, got) {
		return fmt.Errorf("assigned again, it changed:\n%v\nwant\n%v", again, got)
	}
	return nil
}

// existing is what m subscribes to that exists, sorted.
func existing(m Member, partitions map[string]int32) []string {
	var out []string
	for _, topic := range m.Topics {
		if partitions[topic] > 0 {
			out = append(out, topic)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func homogeneous(members []Member, partitions map[string]int32) bool {
	for _, m := range members {
		if !slices.Equal(existing(m, partitions), existing(members[0], partitions)) {
			return false
		}
	}
	return true
}

// checkBalance: homogeneous, counts within one of each other;
// heterogeneous, no chain of members, each holding a partition of a topic
// that the next subscribes to, runs from one member to another holding
// at least two fewer (then the balance is the best possible).
func checkBalance(members []Member, partitions map[string]int32, got map[string][]Partition) error {
	if len(members) == 0 {
		return nil
	}
	if homogeneous(members, partitions) {
		lo, hi := len(got[members[0].ID]), len(got[members[0].ID])
		for _, parts := range got {
			lo, hi = min(lo, len(parts)), max(hi, len(parts))
		}
		if hi-lo > 1 {
			return fmt.Errorf("homogeneous, yet counts from %d to %d", lo, hi)
		}
		return nil
	}
	subscribers := map[string][]string{}
	heldTopics := map[string][]string{} // member: the topics it holds partitions of
	lowest := -1                        // the fewest any member with a topic holds
	for _, m := range members {
		topics := existing(m, partitions)
		for _, topic := range topics {
			subscribers[topic] = append(subscribers[topic], m.ID)
		}
		if len(topics) > 0 && (lowest == -1 || len(got[m.ID]) < lowest) {
			lowest = len(got[m.ID])
		}
		for _, p := range got[m.ID] {
			if !slices.Contains(heldTopics[m.ID], p.Topic) {
				heldTopics[m.ID] = append(heldTopics[m.ID], p.Topic)
			}
		}
	}
	for _, m := range members {
		if len(got[m.ID]) < lowest+2 {
			continue // no one holds two fewer
		}
		reached := map[string]bool{m.ID: true}
		for queue := []string{m.ID}; len(queue) > 0; queue = queue[1:] {
			for _, topic := range heldTopics[queue[0]] {
				for _, next := range subscribers[topic] {
					if reached[next] {
						continue
					}
					if len(got[next]) <= len(got[m.ID])-2 {
						return fmt.Errorf("a chain runs from %s (%d) to %s (%d)", m.ID, len(got[m.ID]), next, len(got[next]))
					}
					reached[next] = true
					queue = append(queue, next)
				}
			}
		}
	}
	return nil
}

// checkFewestMoves, homogeneous only: the partitions taken from their
// owner are as few as any balanced assignment allows. With P partitions
// over M members, the P%M members keeping one extra are best those that
// own the most; every member must give up what it owns above its count.
// Partitions that two members claim are left out: one of them loses it
// whatever the assignor does.
func checkFewestMoves(members []Member, partitions map[string]int32, got map[string][]Partition) error {
	if len(members) == 0 || !homogeneous(members, partitions) || claimedTwice(members) {
		return nil
	}
	total := 0
	for _, topic := range existing(members[0], partitions) {
		total += int(partitions[topic])
	}
	var owned []int // how many valid partitions each member owns
	moved := 0
	for _, m := range members {
		valid := map[Partition]bool{}
		for _, p := range m.Owned {
			if subscribes(m, p.Topic, partitions) && p.Partition >= 0 && p.Partition < partitions[p.Topic] {
				valid[p] = true
			}
		}
		for p := range valid {
			if !slices.Contains(got[m.ID], p) {
				moved++
			}
		}
		owned = append(owned, len(valid))
	}
	slices.SortFunc(owned, func(a, b int) int { return cmp.Compare(b, a) })
	fewest := 0
	for i, n := range owned {
		quota := total / len(members)
		if i < total%len(members) {
			quota++
		}
		fewest += max(0, n-quota)
	}
	if moved != fewest {
		return fmt.Errorf("homogeneous: %d partitions moved, %d would do", moved, fewest)
	}
	return nil
}

func claimedTwice(members []Member) bool {
	claims := map[Partition]string{}
	for _, m := range members {
		for _, p := range m.Owned {
			if other, ok := claims[p]; ok && other != m.ID {
				return true
			}
			claims[p] = m.ID
		}
	}
	return false
}

// checkRanges: each topic's subscribers, by ID, hold contiguous ranges in
// turn, the first partitions%subscribers one longer.
func checkRanges(members []Member, partitions map[string]int32, got map[string][]Partition) error {
	byID := slices.SortedFunc(slices.Values(members), func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	for topic, n := range partitions {
		var subs []string
		for _, m := range byID {
			if subscribes(m, topic, partitions) {
				subs = append(subs, m.ID)
			}
		}
		next := int32(0)
		for i, id := range subs {
			size := int(n) / len(subs)
			if i < int(n)%len(subs) {
				size++
			}
			var want, have []Partition
			for range size {
				want = append(want, Partition{topic, next})
				next++
			}
			for _, p := range got[id] {
				if p.Topic == topic {
					have = append(have, p)
				}
			}
			if !slices.Equal(have, want) {
				return fmt.Errorf("%s holds %v of %s, want %v", id, have, topic, want)
			}
		}
	}
	return nil
}

// TestRandomSequences runs seeded random sequences of joins, leaves,
// subscription changes and topic changes, checking the rules after each
// step. Half the sequences keep the group homogeneous, where uniform's
// balance and fewest moves are exact.
func TestRandomSequences(t *testing.T) {
	for seed := range uint64(300) {
		for _, a := range []Assignor{Uniform(), Range()} {
			homogeneous := seed%2 == 0
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			s := randomScenario{rng: rng, homogeneous: homogeneous, scenario: scenario{partitions: map[string]int32{}}}
			for _, topic := range topicNames {
				s.partitions[topic] = int32(rng.IntN(9))
			}
			s.shared = s.randomTopics()
			for step := range 20 {
				what := s.step()
				got := a.Assign(s.members, s.partitions)
				if err := checkRules(a, s.members, s.partitions, got); err != nil {
					t.Fatalf("%s, seed %d, step %d (%s): %v\nmembers %v\npartitions %v", a.Name(), seed, step, what, err, s.members, s.partitions)
				}
				s.keep(got)
			}
		}
	}
}

var topicNames = []string{"t0", "t1", "t2", "t3"}

type randomScenario struct {
	rng         *rand.Rand
	homogeneous bool     // every member subscribes to shared
	shared      []string // the subscription of a homogeneous group
	scenario
}

func (s *randomScenario) randomTopics() []string {
	var out []string
	for _, topic := range topicNames {
		if s.rng.IntN(2) == 0 {
			out = append(out, topic)
		}
	}
	return out
}

// step changes the group at random and says how.
func (s *randomScenario) step() string {
	switch op := s.rng.IntN(11); {
	case op < 4 && len(s.members) < 12 || len(s.members) == 0:
		id := fmt.Sprintf("m%02d", s.rng.IntN(40))
		if s.index(id) >= 0 {
			return "join of a member already in"
		}
		topics := s.shared
		if !s.homogeneous {
			topics = s.randomTopics()
		}
		s.members = append(s.members, Member{ID: id, Topics: slices.Clone(topics)})
		return "join " + id
	case op < 6:
		i := s.rng.IntN(len(s.members))
		id := s.members[i].ID
		s.members = slices.Delete(s.members, i, i+1)
		return "leave " + id
	case op < 8:
		if s.homogeneous {
			s.shared = s.randomTopics()
			for i := range s.members {
				s.members[i].Topics = slices.Clone(s.shared)
			}
			return "everyone subscribes"
		}
		i := s.rng.IntN(len(s.members))
		s.members[i].Topics = s.randomTopics()
		return "subscribe " + s.members[i].ID
	case op < 9:
		// What a coordinator should not pass, and an assignor must
		// survive: partitions that do not exist, of topics not
		// subscribed to, twice, or owned by another member too.
		i := s.rng.IntN(len(s.members))
		for range 1 + s.rng.IntN(4) {
			p := Partition{Topic: topicNames[s.rng.IntN(len(topicNames))], Partition: int32(s.rng.IntN(15)) - 1}
			s.members[i].Owned = append(s.members[i].Owned, p, p)
		}
		return "bad claims by " + s.members[i].ID
	default:
		topic := topicNames[s.rng.IntN(len(topicNames))]
		s.partitions[topic] = int32(s.rng.IntN(13)) // 0: deleted
		return fmt.Sprintf("%s now has %d partitions", topic, s.partitions[topic])
	}
}
