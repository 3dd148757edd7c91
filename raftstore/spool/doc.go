// Package spool is a sidecar's local store of the records it has
// acknowledged and not yet handed to the cluster: one queue per topic
// partition, each a segment log (the package that stores a broker's
// partitions, raftstore/internal/segment), so that what the sidecar acks
// is fsync'd with the same code and the same fault model as what a broker
// acks.
//
// # Queues
//
// A queue is a log of batches, one per produce request to the partition,
// at offsets counted from 0 as a partition's are. Append writes a batch
// (AppendAll one to each of several queues, room for all taken first),
// and Sync returns once it is fsync'd (concurrent appends share one
// fsync): only then may the sidecar acknowledge it.
// The forwarder reads batches from the queue's cursor, hands them to the
// cluster and moves the cursor past what the cluster acknowledged
// (Advance); whole segments behind the cursor are deleted, and the bytes
// they held are free for new appends. The spool's size (every queue's
// segments) is bounded by Options.MaxBytes: an append that would pass it
// fails with ErrFull, and nothing is dropped.
//
// # Sequence numbers
//
// The forwarder sends a queue's batches as one idempotent producer (its id
// is the spool's, Spool.UpstreamProducer), in groups of consecutive
// batches, one request each, whose sequence number is the group's first
// offset less the queue's epoch base: a pure function of the queue. The
// partition remembers a producer's last five requests (Window); it
// acknowledges a request it already appended without appending it again
// only if the request is the same (sequence and record count). So the
// forwarder records the groups it sends in the cursor before it sends
// them (Cursor.Pending), at most Window past the cursor; after a crash
// the groups recorded are sent again as they were, and the partition
// acknowledges every one it has as a duplicate. When the cluster has
// forgotten the producer (idle past its expiry), the queue starts a new
// epoch whose sequence starts at the batch the forwarder is at
// (Queue.NewEpoch): nothing from there on was appended.
//
// # The cursor file
//
// Each queue directory holds, beside its segment files, a cursor file:
// two 512-byte slots, each with a sequence number, the cursor's offset and
// raft index, the epoch and its base, the pending groups' ends, and a
// CRC32C; writes alternate between them and are fdatasync'd, so a torn
// write spoils only the slot being written and the other holds the
// previous cursor, with the groups pending then: sent again, they are
// acknowledged as duplicates too.
//
// # Applications' idempotence
//
// An application's idempotent producer (one that asked the sidecar's
// InitProducer for an id) gets the broker's guarantee from the spool: each
// queue keeps a producer table (raftstore/internal/producers, a
// partition's) of the batches it holds, so a retry of a batch the spool has
// is acknowledged, not spooled again. The table is rebuilt at Open from
// the batches the queue still holds; ids come in blocks recorded durably
// before any is handed out (Spool.NextProducerID).
package spool
