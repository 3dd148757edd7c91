package controller

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNoBrokerToMoveTo is returned by Decommission when a partition on the
// broker leaving has a replica on every other broker that takes replicas:
// moving it off would leave it under its replication factor.
var ErrNoBrokerToMoveTo = errors.New("controller: no broker to move a replica to")

// Holding is a data partition as decommissioning sees it.
type Holding struct {
	// Partition names it, for the caller.
	Partition string
	// Replicas are its replicas, the preferred leader first.
	Replicas []int32
	// Target is where a reassignment going moves it; nil: none.
	Target []int32
}

// Move reassigns Partition to Replicas.
type Move struct {
	Partition string
	Replicas  []int32
}

// Drain is the next step of decommissioning a broker.
type Drain struct {
	// Moves are the reassignments to start: each partition whose
	// replicas, or whose target, hold the broker leaving.
	Moves []Move
	// Moving are the partitions whose reassignment going moves them off it.
	Moving []string
	// Done: it holds no replica and is in none of the groups every broker
	// replicates. The caller removes it from the cluster.
	Done bool
}

// Decommission plans moving every replica of the broker leaving to the
// others (Redpanda's decommission): brokers are those that take replicas
// (the cluster's, leaving and any other broker being decommissioned left
// out), holdings every data partition, and internal the configurations of
// the groups every broker replicates (metadata, consumer offsets), whose
// leaders drop the broker (RemoveLeft) once it holds no data replica.
//
// Each partition holding it, with no reassignment going or one whose
// target holds it, is moved to its replicas (or target) with the leaving
// broker replaced in place, so that the preferred leader stays the first
// replica, by the broker holding the fewest replicas (counting the moves
// planned before it; ties: the first in brokers) that the partition has
// not got. A partition with no such broker makes the whole plan fail with
// ErrNoBrokerToMoveTo: the caller refuses the removal rather than move
// some replicas and strand the rest.
func Decommission(leaving int32, brokers []int32, holdings []Holding, internal []Conf) (Drain, error) {
	brokers = slices.DeleteFunc(slices.Clone(brokers), func(id int32) bool { return id == leaving })
	load := map[int32]int{}
	for _, h := range holdings {
		for _, id := range eventual(h) {
			load[id]++
		}
	}
	var d Drain
	for _, h := range holdings {
		replicas := eventual(h)
		i := slices.Index(replicas, leaving)
		if i < 0 {
			if slices.Contains(h.Replicas, leaving) {
				d.Moving = append(d.Moving, h.Partition)
			}
			continue
		}
		to := int32(0)
		for _, id := range brokers {
			if !slices.Contains(replicas, id) && (to == 0 || load[id] < load[to]) {
				to = id
			}
		}
		if to == 0 {
			return Drain{}, fmt.Errorf("%w: partition %s has %d replicas %v and each other broker taking replicas, %v, holds one",
				ErrNoBrokerToMoveTo, h.Partition, len(replicas), replicas, brokers)
		}
		moved := slices.Clone(replicas)
		moved[i] = to
		load[to]++
		d.Moves = append(d.Moves, Move{Partition: h.Partition, Replicas: moved})
	}
	d.Done = len(d.Moves) == 0 && len(d.Moving) == 0 &&
		!slices.ContainsFunc(internal, func(c Conf) bool { return c.Has(leaving) })
	return d, nil
}

// eventual are the replicas h will have: its target's if it is moving.
func eventual(h Holding) []int32 {
	if h.Target != nil {
		return h.Target
	}
	return h.Replicas
}

// RemoveLeft returns the next step for g, one of the groups every broker
// replicates, which g.Leader leads, as brokers leave the cluster: leaving
// are those decommissioned that hold no data replica any more. Each is
// removed, one change at a time, if it is a learner, as every broker that
// joined is (AddJoined); a voter (an initial broker) is never removed
// here: the caller refuses to decommission one. Wait when there is
// nothing to remove.
func RemoveLeft(g Group, leaving []int32) Step {
	if len(g.Conf.VotersOutgoing) > 0 {
		return wait("joint configuration: raft leaves it by itself")
	}
	for _, id := range leaving {
		switch {
		case slices.Contains(g.Conf.Learners, id):
			return Step{Action: ChangeConf, Changes: []Change{{Op: Remove, Node: id}}}
		case slices.Contains(g.Conf.Voters, id):
			return wait("broker %d is a voter: only learners leave", id)
		}
	}
	return wait("no broker leaving is in the group")
}
