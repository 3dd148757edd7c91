package controller

import "slices"

// Leading is a raft group a broker leads, as it shuts down: a data
// partition, the metadata group or a consumer offsets group alike.
type Leading struct {
	// Partition names it, for the caller.
	Partition string
	// Voters are its configuration's voters.
	Voters []int32
	// CaughtUp are the replicas answering with every committed entry, in
	// the leader's order: the first fit is the target.
	CaughtUp []int32
}

// HandOff says where each group that self leads goes at a graceful
// shutdown, so that clients wait for no election timeout: to the first
// caught-up replica that is a voter other than self (raft ignores a
// transfer to a learner). A group with no such replica (a single node,
// say) is left out and keeps its leader: handing it off would stop it.
// The caller applies the transfers and asks again until none is left.
func HandOff(self int32, leading []Leading) []Transfer {
	var out []Transfer
	for _, l := range leading {
		for _, id := range l.CaughtUp {
			if id != self && slices.Contains(l.Voters, id) {
				out = append(out, Transfer{Partition: l.Partition, To: id})
				break
			}
		}
	}
	return out
}
