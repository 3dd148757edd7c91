package controller

import "slices"

// Led is a data partition as the broker leading it sees it.
type Led struct {
	// Partition names it, for the caller.
	Partition string
	// Preferred is its preferred leader: its first replica.
	Preferred int32
	// Moving says a reassignment is under way, which places the leader.
	Moving bool
	// CaughtUp are the replicas answering with every committed entry.
	CaughtUp []int32
}

// Transfer hands Partition's leadership to To.
type Transfer struct {
	Partition string
	To        int32
}

// BalanceLeaders says which of the partitions that self leads go back to
// their preferred leader, so that leaders stay spread as placement
// planned after failovers: each that self is not the preferred leader of,
// that is not being reassigned, and whose preferred leader is caught up.
// The internal groups are not balanced: the caller passes data
// partitions only.
func BalanceLeaders(self int32, led []Led) []Transfer {
	var out []Transfer
	for _, l := range led {
		if l.Moving || l.Preferred == self || !slices.Contains(l.CaughtUp, l.Preferred) {
			continue
		}
		out = append(out, Transfer{Partition: l.Partition, To: l.Preferred})
	}
	return out
}
