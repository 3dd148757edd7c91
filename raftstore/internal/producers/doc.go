// Package producers is a partition's memory of its idempotent producers,
// as Kafka's ProducerStateManager is: per producer id, its epoch and its
// last Window batches (sequence number, record count, base offset), so that
// a retry of a batch the partition holds is answered with its offsets
// rather than appended again.
//
// A Table is a pure state machine, driven by the partition's raft loop:
//
//   - Apply takes every committed batch of an idempotent producer, on every
//     replica, in log order. A restored state knows its raft index, and
//     Apply skips the entries it covers; and Apply is monotonic besides (a
//     batch older than what the table holds for its producer changes
//     nothing). So a saved state and the replay of the log after it (or
//     after an older point) agree, and expiry (swept at append times the
//     state carries) forgets the same producers at the same entry on every
//     replica.
//   - Check and AddPending are the leader's: it checks a batch against
//     what is applied and what it has proposed in its term but not yet
//     applied (pending), before proposing it. A leader checks only once it
//     has applied an entry of its own term, so that every entry of earlier
//     terms is applied: its log then holds nothing the table does not know.
//   - Producers idle for longer than the expiry (by the leaders' clocks
//     written into the batches, so every replica expires the same ones)
//     are forgotten, and so is the least recently active one beyond
//     MaxProducers. A producer the table does not know starts at sequence
//     0, as one whose epoch is new does: one that had been forgotten gets
//     ErrOutOfOrder, and starts again at 0 in a new epoch (Kafka's KIP-360),
//     so that a batch a forgotten producer sent after one that failed is
//     not taken as its first.
package producers
