// Package group is one consumer group as its coordinator keeps it: the
// members and what they subscribe to, the group epoch, the target
// assignment an assignor computes, and the reconciliation that moves
// each member towards its target without ever letting two members read
// a partition at once — as Kafka's KIP-848 does it in the broker.
//
// It is a pure state machine: every method takes the time as an input
// and returns at once; no goroutines, no clock, no I/O. The broker's
// coordinator (server/internal/broker, groups.go) serialises the calls,
// runs the timers (Tick) and tells each member's stream its new
// assignment (View).
//
// The rules:
//   - The group epoch moves on every change of membership, of a member's
//     subscription, or of a subscribed topic's partitions; the target
//     assignment is recomputed then, sticky to the previous target.
//   - A member owns (reads) a partition only while no other member holds
//     it. A partition taken from a member is first revoking: its stream
//     stops delivering it, and it is released to its new owner once the
//     member has committed there up to what its stream delivered (a
//     commit below that was made before it processed its last batches;
//     once the member left, any commit of it), or had delivered nothing
//     beyond the committed offset (Stopped), or after the rebalance
//     timeout, which
//     also removes the member (it is fenced, as KIP-848 does).
//   - A member's epoch moves to the target's once it revokes nothing;
//     only then does it gain new partitions. Commits carry it (CanCommit).
//   - A member whose stream ended without leaving is detached, and
//     removed after the session timeout unless a stream re-attaches it;
//     re-attached, it keeps its partitions and nothing rebalances.
package group
