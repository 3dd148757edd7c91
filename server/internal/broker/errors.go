package broker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/catalog"
)

// The errors a Broker returns; callers test them with errors.Is. The
// wrapping message says what was wrong and how to fix it.
var (
	// ErrTopicNotFound: the topic does not exist or was deleted.
	ErrTopicNotFound = catalog.ErrTopicNotFound
	// ErrTopicExists: CreateTopic with a name that is taken.
	ErrTopicExists = catalog.ErrTopicExists
	// ErrBrokerExists: a broker joining with a node id another holds.
	ErrBrokerExists = catalog.ErrBrokerExists
	// ErrBrokerRemoved: a broker joining under the node id of one removed
	// from the cluster (RemoveBroker).
	ErrBrokerRemoved = catalog.ErrBrokerRemoved
	// ErrBrokerNotFound: a node id that is not in the cluster.
	ErrBrokerNotFound = errors.New("broker not found")
	// ErrPrecondition: a request the cluster cannot carry out as it is
	// (removing a broker whose replicas have nowhere to go); the message
	// says what to change first.
	ErrPrecondition = errors.New("failed precondition")
	// ErrInvalid: a request that can never succeed as sent (bad name,
	// partition, size, configuration).
	ErrInvalid = catalog.ErrInvalid
	// ErrOffsetOutOfRange: an offset outside [log start, high watermark].
	ErrOffsetOutOfRange = raftstore.ErrOffsetOutOfRange
	// ErrUnavailable: the broker cannot serve the request now (shutting
	// down, no leader); retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrProducerFenced: an idempotent producer's batch of an older epoch
	// than the producer's newest at the partition.
	ErrProducerFenced = raftstore.ErrProducerFenced
	// ErrOutOfOrderSequence: an idempotent producer's batch out of
	// sequence (a gap, or older than the batches the partition remembers).
	ErrOutOfOrderSequence = raftstore.ErrOutOfOrderSequence
)

// NotLeaderError is returned when a request needs a partition's raft
// group and the group has no leader at the moment, or the leader changed
// while the request waited (it may or may not have been appended). It
// unwraps to ErrUnavailable: retry.
type NotLeaderError struct {
	Topic     string
	Partition int32
	// Leader is the partition's leader as this broker knows it (NodeID 0
	// when it knows none).
	Leader Member
	Err    error
}

func (e *NotLeaderError) Error() string {
	leader := "it has no leader at the moment"
	switch {
	case e.Leader.NodeID != 0 && e.Leader.Address != "":
		leader = fmt.Sprintf("its leader is broker %d at %s", e.Leader.NodeID, e.Leader.Address)
	case e.Leader.NodeID != 0:
		leader = fmt.Sprintf("its leader is broker %d", e.Leader.NodeID)
	}
	return fmt.Sprintf("topic %q partition %d: %s; %s: retry", e.Topic, e.Partition, clientWords(e.Err), leader)
}

// clientWords is err's message for a client: raftstore's errors begin with
// their package's name, as Go errors do, which tells a client nothing.
func clientWords(err error) string {
	return strings.TrimPrefix(err.Error(), "raftstore: ")
}

func (e *NotLeaderError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// NotReplicatedError is returned when this broker holds no copy of a
// partition: Replicas do. The server forwards the request to them.
type NotReplicatedError struct {
	Topic     string
	Partition int32
	Replicas  []Member
}

func (e *NotReplicatedError) Error() string {
	return fmt.Sprintf("topic %q partition %d is not replicated on this broker and forwarding it to its replicas failed: retry",
		e.Topic, e.Partition)
}

func (e *NotReplicatedError) Unwrap() error { return ErrUnavailable }
