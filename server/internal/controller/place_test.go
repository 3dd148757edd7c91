package controller

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Every topic, whatever the catalog holds, spreads by itself: its
// replicas are distinct brokers, no broker leads more than one partition
// more than another, and replicas are even but for the partitions beyond
// a multiple of the brokers (P mod n windows of rf consecutive brokers:
// a spread of at most min(rf, P mod n)). testdata/place.txt shows the
// layouts; this checks the rule over many random clusters.
func TestPlaceSpreadsEachTopic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + r.IntN(7)
		brokers := make([]int32, 0, n)
		for id := int32(1); len(brokers) < n; id++ {
			if r.IntN(3) > 0 {
				brokers = append(brokers, id)
			}
		}
		var existing [][]int32
		for range r.IntN(20) {
			placed, err := Place(brokers, existing, int32(1+r.IntN(8)), int32(1+r.IntN(n)), r.IntN)
			if err != nil {
				t.Fatal(err)
			}
			existing = append(existing, placed...)
		}
		partitions, rf := int32(1+r.IntN(12)), int32(1+r.IntN(n))
		before := slices.Clone(existing)
		placed, err := Place(brokers, existing, partitions, rf, r.IntN)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(before, existing, slices.Equal) {
			t.Fatalf("Place changed its input")
		}
		if len(placed) != int(partitions) {
			t.Fatalf("brokers %v: %d partitions placed, want %d", brokers, len(placed), partitions)
		}
		leads, holds := map[int32]int{}, map[int32]int{}
		for _, replicas := range placed {
			if len(replicas) != int(rf) {
				t.Fatalf("brokers %v rf %d: replicas %v", brokers, rf, replicas)
			}
			for i, id := range replicas {
				if !slices.Contains(brokers, id) || slices.Contains(replicas[:i], id) {
					t.Fatalf("brokers %v: replicas %v", brokers, replicas)
				}
				holds[id]++
			}
			leads[replicas[0]]++
		}
		if spread(brokers, leads) > 1 || spread(brokers, holds) > min(int(rf), int(partitions)%n) {
			t.Fatalf("brokers %v, %d partitions rf %d: %v, leads %v holds %v", brokers, partitions, rf, placed, leads, holds)
		}
	}
}

func spread(brokers []int32, count map[int32]int) int {
	lo, hi := count[brokers[0]], count[brokers[0]]
	for _, id := range brokers {
		lo, hi = min(lo, count[id]), max(hi, count[id])
	}
	return hi - lo
}

// Tied brokers are picked equally often: a topic of one partition on an
// empty cluster of three starts on each about a third of the time.
func TestPlaceBreaksTiesEvenly(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const runs = 3000
	starts := map[int32]int{}
	for range runs {
		placed, err := Place([]int32{1, 2, 3}, nil, 1, 1, r.IntN)
		if err != nil {
			t.Fatal(err)
		}
		starts[placed[0][0]]++
	}
	for _, id := range []int32{1, 2, 3} {
		if got := starts[id]; got < runs/3-150 || got > runs/3+150 {
			t.Errorf("broker %d started %d of %d topics, want about %d: %v", id, got, runs, runs/3, starts)
		}
	}
}
