package controller

import "errors"

// ErrReplicationFactor is returned by Place when the replication factor
// is below 1 or above the number of brokers; the caller refuses the topic.
var ErrReplicationFactor = errors.New("controller: replication factor out of range")

// Place assigns the replicas of a new topic's partitions, Kafka style:
// partition p's replicas are rf consecutive brokers (in the order of
// brokers, which the caller gives by id) from a start plus p, so that
// replicas and preferred leaders (the first replica) spread evenly over
// the brokers. The start is the broker that is the preferred leader of
// the fewest partitions in existing (the replicas of every partition in
// the catalog, the preferred leader first; ties: the one with the fewest
// replicas, then intN's pick), so that topics created one after another
// spread too.
//
// intN(n) returns a number in [0, n), as rand.IntN does, to pick among
// tied brokers; nil keeps the first of them.
func Place(brokers []int32, existing [][]int32, partitions, rf int32, intN func(n int) int) ([][]int32, error) {
	n := len(brokers)
	if rf < 1 || int(rf) > n {
		return nil, ErrReplicationFactor
	}
	leads, holds := map[int32]int{}, map[int32]int{}
	for _, replicas := range existing {
		if len(replicas) == 0 {
			continue
		}
		leads[replicas[0]]++
		for _, id := range replicas {
			holds[id]++
		}
	}
	start, ties := 0, 0
	for i, id := range brokers {
		best := brokers[start]
		switch {
		case i == 0:
			ties = 1
		case leads[id] < leads[best] || leads[id] == leads[best] && holds[id] < holds[best]:
			start, ties = i, 1
		case leads[id] == leads[best] && holds[id] == holds[best]:
			// NB: reservoir sampling: each tied broker equally likely.
			ties++
			if intN != nil && intN(ties) == 0 {
				start = i
			}
		}
	}
	out := make([][]int32, partitions)
	for p := range out {
		for i := range int(rf) {
			out[p] = append(out[p], brokers[(start+p+i)%n])
		}
	}
	return out, nil
}
