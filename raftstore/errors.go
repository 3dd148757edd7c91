package raftstore

import (
	"errors"

	"github.com/runnel-broker/runnel/raftstore/internal/producers"
	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// ErrNotLeader is returned for a proposal that was not, and never will be,
// committed: the group has no leader this replica knows of, the leader
// lost its leadership before appending it, or another entry was committed
// at its index. Retrying cannot duplicate it.
var ErrNotLeader = errors.New("raftstore: not the partition leader")

// ErrLeaderChanged is returned for a proposal this follower handed to a
// leader that lost its leadership before this replica saw the entry: it
// may or may not have been appended.
var ErrLeaderChanged = errors.New("raftstore: the leader changed while the proposal waited; it may or may not have been appended")

// ErrProposalTimeout is returned by Proposal.Wait when the batch was not
// applied within Config.ProposalTimeout (a leader change lost it, or the
// group has no quorum): it may or may not have been appended.
var ErrProposalTimeout = errors.New("raftstore: proposal not applied in time; it may or may not have been appended")

// ErrFailed is returned by a Partition's methods once its raft goroutine
// stopped on a failure of its own (a storage error, corrupt data, a panic
// inside raft): this replica serves the partition no more until the
// broker restarts, and the other replicas elect a leader without it. The
// caller should retry through another replica; the error says what failed.
var ErrFailed = errors.New("raftstore: partition failed")

// ErrClosed is returned by a Partition's methods once it is closed (the
// broker is shutting down or the topic was deleted).
var ErrClosed = errors.New("raftstore: partition closed")

// closedAs maps the segment log's closed error, met by a read racing with
// Close, to ErrClosed.
func closedAs(err error) error {
	if errors.Is(err, segment.ErrClosed) {
		return ErrClosed
	}
	return err
}

// ErrOffsetOutOfRange is returned by Partition.Read for an offset below the
// log start offset or above the high watermark; the caller should restart
// from one of those.
var ErrOffsetOutOfRange = segment.ErrOffsetOutOfRange

// ErrCorrupt is returned when stored data fails its checksum or framing.
// Nothing is deleted: an operator must look at the named file.
var ErrCorrupt = segment.ErrCorrupt

// MaxMessageBytes is the largest message a broker receives from a client
// or a peer, the raft transport's batches included (transport/limits.go
// checks that a batch with the largest entry fits).
const MaxMessageBytes = 64 << 20

// MaxEntryBytes is the largest batch (header and payload) Submit takes:
// the largest raft entry the transport carries to the followers. 32 MiB,
// the largest record a topic may allow, and 64 KiB for its framing.
const MaxEntryBytes = 32<<20 + 64<<10

// ErrEntryTooLarge is returned by Submit for a batch over MaxEntryBytes:
// no follower could receive it, and the partition would stop committing.
// The caller must split it.
var ErrEntryTooLarge = errors.New("raftstore: batch too large to replicate")

// ErrProducerFenced is returned for an idempotent producer's batch whose
// epoch is older than the producer's newest at the partition: nothing of
// it is appended.
var ErrProducerFenced = producers.ErrFenced

// ErrOutOfOrderSequence is returned for an idempotent producer's batch
// whose sequence number is neither the next one expected nor a retry of
// one of the producer's last batches: nothing of it is appended.
var ErrOutOfOrderSequence = producers.ErrOutOfOrder
