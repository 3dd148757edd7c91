// Package raftstore runs one etcd-raft group per partition over a
// segment store, so that the raft log is the partition's data log.
//
// A Store owns a broker's data directory. Each Partition in it is a
// directory named by the caller (Kafka style, "orders-0") holding:
//
//	raft.state                HardState and ConfState (see statefile.go)
//	boundary                  the raft index, term and offset just before the log start
//	%020d.log                 segments named by their first raft index
//	%020d.index, .timeindex   their mmap'd indexes
//	snapshot                  a state machine's latest snapshot (see snapshot.go)
//
// The segment files, their framing and recovery are specified in
// raftstore/internal/segment. This package adds the raft side.
//
// # One goroutine per RawNode, one per disk writer
//
// Every Partition runs two goroutines. The raft loop (loop.go) owns the
// raft.RawNode: it ticks, feeds proposals and routes each Ready's messages.
// Raft runs with AsyncStorageWrites, so persisting is message passing:
//
//   - MsgStorageAppend goes to the append goroutine (appender.go), raft's
//     "local append thread" and the log's only writer. It appends the
//     entries (write(), which stamps each entry's base offset), fsyncs
//     through the Store's flusher, saves the HardState when term or vote
//     changed (atomic file replace; the commit index is saved lazily, see
//     statefile.go) and only then hands the message's responses back to
//     the loop.
//     Appends that queue up while an fsync runs are written and synced
//     together in the next round: that is the group commit, and the flusher
//     runs the fsyncs of all partitions side by side.
//   - MsgStorageApply is handled on the loop itself: move the high
//     watermark, hand batches to the partition's state machine (internal
//     topics), complete the proposals waiting for them, step the responses.
//
// NB: raft hands over for applying only committed entries, and a leader
// counts its own entries towards commit only once the appender reported
// them durable: an ack means fsync'd. The loop never waits for the disk,
// so proposals keep flowing into the next round while one is syncing.
//
// # Offsets
//
// Offsets are a pure function of the log prefix: the segment store stamps
// base_offset = previous base_offset + previous record count at append, so
// no translation table exists. The high watermark is the offset after the
// last applied entry.
//
// # Snapshots
//
// A data partition's raft snapshot is metadata only (storage.Snapshot):
// its state is its log. A state machine partition (PartitionConfig.Apply,
// the internal topics) with Snapshot and Restore snapshots its state
// (snapshot.go): the loop encodes the state right after applying, never
// waiting for the disk; the appender writes the snapshot file, then
// deletes the log behind it but for a catch-up tail. Open restores it and
// applies only what follows; a follower behind the leader's log start
// saves and restores the leader's.
//
// # Reads
//
// Committed entries never change, so readers go straight to the segment
// store up to the commit index, concurrently with the raft goroutine, and
// park on a notifier that the raft goroutine fires after each apply.
package raftstore
