// Package assignor holds the server-side partition assignors of consumer
// groups, as in Kafka's KIP-848: on every change of a group's membership
// or subscriptions, the group coordinator passes the members (their
// subscriptions and their current target assignment) and the topics'
// partition counts, and gets the group's new target assignment back. It
// owns that computation and nothing else: no goroutines, no clock, no
// randomness, no imports from the rest of Runnel (internal/deps enforces
// it), so that an assignment is a pure function of its input, the same
// whatever the order of the members, topics or owned partitions.
//
// Both assignors give every partition of every subscribed topic to
// exactly one member subscribed to it, and nothing else. A subscribed
// topic that does not exist is skipped; owned partitions that no longer
// exist, or whose topic the member left, are dropped.
//
// Uniform (the default, "uniform") balances the number of partitions per
// member and is sticky: a member keeps what it owns unless balance needs
// it elsewhere.
//
//   - Homogeneous groups (every member subscribes to every topic): the
//     counts differ by at most one, and the partitions that move are
//     exactly those that a member owns above its share, which is the
//     fewest any balanced assignment can move. The members owning the
//     most get the shares with one partition more.
//   - Heterogeneous groups, after Kafka's
//     UniformHeterogeneousAssignmentBuilder: unowned partitions go out
//     most constrained first (topics with the fewest subscribers), each
//     to its least loaded subscriber; then single partitions move from a
//     member to an eligible one holding at least two fewer, and where
//     none can, a partition shifts along the shortest chain of members
//     (a gives b one of X, b gives c one of Y) to one holding at least two
//     fewer. When no chain is left the balance is the best the
//     subscriptions allow: no assignment has a lower largest count, nor
//     a lower sum of the counts' squares. Nothing moves but to narrow
//     such a gap, though the moves are not proven the fewest, as they
//     are in the homogeneous case.
//
// Range ("range") lays each topic out as Kafka's RangeAssignor does: the
// topic's subscribers sorted by ID take contiguous ranges, the first
// partitions%subscribers one partition more, so that topics with the same
// partition count and subscribers line up (co-partitioning). It is
// layout-first: the layout follows from the IDs and the counts alone and
// Owned plays no part; stickiness is only what the layout keeps: a topic
// whose subscribers and count are unchanged keeps its layout exactly,
// while in one that changed the boundaries shift and partitions may move
// between members that stayed. Balance is per topic; across topics the
// first members by ID may get one extra partition of each.
//
// Cost, with P partitions, M members and S subscriptions (member, topic):
// range is O(S log S + P). Uniform's homogeneous builder is O(P·M) at
// worst (each unowned partition goes to the least loaded member, found by
// a scan). The heterogeneous one adds O(S) per pass of single moves,
// O(subscribers) per move, and breadth-first searches, O(M + S) each: per
// chain shifted, one per distinct load that could start a chain (two or
// more above the least loaded). 10,000 partitions over 1,000 members take
// milliseconds, tens of them when all but one join at once
// (BenchmarkScale).
//
// The tests are data-driven: testdata/uniform.txt and range.txt hold
// commands and the expected output (`go test -rewrite` rewrites it after
// a deliberate change), and a property test checks the rules above over
// random sequences of joins, leaves and changes.
package assignor
