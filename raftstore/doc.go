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
//
// The segment files, their framing and recovery are specified in
// raftstore/internal/segment. This package adds the raft side.
//
// # One goroutine per RawNode
//
// Every Partition runs one goroutine (loop.go) that owns its raft.RawNode:
// it ticks, feeds proposals, and handles each raft.Ready in the order raft
// requires:
//
//  1. append rd.Entries to the segment log (write(), no fsync yet), which
//     stamps each entry's base offset;
//  2. persist the HardState when its term or vote changed (atomic file
//     replace); the commit index is persisted lazily (see statefile.go);
//  3. fsync through the Store's flusher, which group-commits: one
//     fdatasync per dirty log covers every batch appended since the last
//     one, and syncs of different partitions run as one round;
//  4. apply rd.CommittedEntries: move the high watermark, hand batches to
//     the partition's state machine (internal topics) and complete the
//     proposals waiting for them;
//  5. Advance.
//
// NB: step 4 runs after step 3, so a proposal is acknowledged only once its
// entry is on disk: an ack means fsync'd. A single voter commits an entry
// in the same Ready that asks to persist it, which is why the order matters.
//
// # Offsets
//
// Offsets are a pure function of the log prefix: the segment store stamps
// base_offset = previous base_offset + previous record count at append, so
// no translation table exists. The high watermark is the offset after the
// last applied entry.
//
// # Reads
//
// Committed entries never change, so readers go straight to the segment
// store up to the commit index, concurrently with the raft goroutine, and
// park on a notifier that the raft goroutine fires after each apply.
package raftstore
