package controller

import (
	"errors"
	"slices"
)

// ErrNotJoinable is returned by Reassign for a group whose log does not
// hold its voters (created by an older version): it cannot take new
// replicas, and the reassignment cannot go on.
var ErrNotJoinable = errors.New("controller: the group was created by an older version whose log does not hold its voters: it cannot take new replicas")

// Reassign returns the next step of moving g, which g.Leader leads, to
// the replicas target (Kafka's partition reassignment carried out by
// raft). Each step is at most one configuration change (raft takes one at
// a time), seen applied on a later call:
//
//  1. add the replicas of target the group lacks as learners, which copy
//     the log without counting towards the quorum, and remove learners of
//     an earlier target that are not wanted;
//  2. wait until every learner is caught up;
//  3. promote the learners and remove the voters not wanted, in one
//     change (joint if it holds more than one), which raft leaves by
//     itself;
//  4. if the leader is not wanted, promote the learners alone, then hand
//     the leadership to a caught-up replica of target, which removes the
//     old leader: a leader removing itself would leave the group
//     leaderless for an election timeout;
//  5. once the voters are target, finish: the caller records the move
//     done.
func Reassign(g Group, target []int32) (Step, error) {
	if !g.Joinable {
		return Step{}, ErrNotJoinable
	}
	cs := g.Conf
	if len(cs.VotersOutgoing) > 0 {
		return wait("joint configuration: raft leaves it by itself"), nil
	}
	wanted := func(id int32) bool { return slices.Contains(target, id) }
	var changes []Change
	change := func(op Op, id int32) { changes = append(changes, Change{Op: op, Node: id}) }
	for _, id := range target {
		if !slices.Contains(cs.Voters, id) && !slices.Contains(cs.Learners, id) {
			change(AddLearner, id)
		}
	}
	for _, id := range cs.Learners {
		if !wanted(id) {
			change(Remove, id)
		}
	}
	if len(changes) > 0 {
		return Step{Action: ChangeConf, Changes: changes}, nil
	}
	for _, id := range cs.Learners {
		if !slices.Contains(g.CaughtUp, id) {
			return wait("learner %d is still copying", id), nil
		}
	}
	for _, id := range cs.Learners {
		change(AddVoter, id)
	}
	if !wanted(g.Leader) {
		if len(changes) > 0 {
			return Step{Action: ChangeConf, Changes: changes}, nil
		}
		for _, id := range target {
			if slices.Contains(g.CaughtUp, id) {
				return Step{Action: TransferLeadership, To: id}, nil
			}
		}
		return wait("no replica of the target is caught up to take the leadership"), nil
	}
	for _, id := range cs.Voters {
		if !wanted(id) {
			change(Remove, id)
		}
	}
	if len(changes) > 0 {
		return Step{Action: ChangeConf, Changes: changes}, nil
	}
	return Step{Action: Finish}, nil
}
