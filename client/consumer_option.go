package client

import (
	"context"
	"time"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// ConsumerOption configures Client.Consumer.
type ConsumerOption func(*consumerOptions)

type consumerOptions struct {
	group      string
	topics     []string
	assignment map[string][]int32
	reset      ResetOffset
	instanceID string
	autoCommit time.Duration
	maxBytes   int32
	onAssigned func(context.Context, map[string][]int32)
	onRevoked  func(context.Context, map[string][]int32)
	// onAssignment sees every assignment event of the member stream.
	onAssignment func(context.Context, *runnelv1.GroupAssignment)
	stopAtEnd    bool
}

func defaultConsumerOptions() consumerOptions {
	return consumerOptions{autoCommit: 5 * time.Second}
}

// ResetOffset is where a consumer starts a partition it has no committed
// offset for (Kafka's auto.offset.reset).
type ResetOffset int

const (
	// ResetEarliest starts at the oldest record retention kept: the
	// default, as the broker's.
	ResetEarliest ResetOffset = iota
	// ResetLatest starts at the high watermark: only records produced
	// after the consumer started the partition.
	ResetLatest
)

// WithGroup makes the consumer use the consumer group id. With
// WithTopics, the consumer is a member of the group: the group's
// coordinator (on the brokers) assigns the topics' partitions among the
// members, as Kafka's KIP-848 groups do; nothing is assigned in the
// client. With WithAssignment, the group only keeps the consumer's
// committed offsets (Kafka's assign() with a group.id).
func WithGroup(id string) ConsumerOption {
	return func(o *consumerOptions) { o.group = id }
}

// WithTopics names the topics a group member subscribes to (Kafka's
// subscribe). It needs WithGroup.
func WithTopics(topics ...string) ConsumerOption {
	return func(o *consumerOptions) { o.topics = append(o.topics, topics...) }
}

// WithAssignment reads the partitions given, by topic, with no group
// membership (Kafka's assign()): the consumer reads exactly these. An
// empty list of partitions means all of the topic's partitions, as they
// are when the consumer starts. With WithGroup, each partition starts at
// the group's committed offset, and Commit commits there; a group that
// has members refuses such commits, as Kafka refuses a simple consumer's.
func WithAssignment(partitions map[string][]int32) ConsumerOption {
	return func(o *consumerOptions) {
		if o.assignment == nil {
			o.assignment = map[string][]int32{}
		}
		for t, ps := range partitions {
			o.assignment[t] = append(o.assignment[t], ps...)
		}
	}
}

// WithResetOffset says where to start a partition without a committed
// offset (or every partition, without a group). The default is
// ResetEarliest.
func WithResetOffset(r ResetOffset) ConsumerOption {
	return func(o *consumerOptions) { o.reset = r }
}

// WithInstanceID makes a group member static (Kafka's group.instance.id):
// a consumer that comes back with the same instance id within the group's
// session timeout keeps its member id and its partitions, so that a
// rolling restart moves nothing. Closing such a consumer does not leave
// the group: its partitions wait for it for the session timeout.
func WithInstanceID(id string) ConsumerOption {
	return func(o *consumerOptions) { o.instanceID = id }
}

// WithAutoCommit sets how often the consumer commits, in the background,
// the offsets of the records its Records loop has finished with (Kafka's
// enable.auto.commit and auto.commit.interval.ms). It also commits when
// the group takes partitions away and on Close. The default is 5s; 0 or
// less turns auto-commit off: commit with Commit or CommitRecords.
//
// The client commits, not the broker (SubscribeRequest's
// auto_commit_interval): the broker knows what it sent, the client what
// the application was given and finished with, which is what
// at-least-once needs.
func WithAutoCommit(interval time.Duration) ConsumerOption {
	return func(o *consumerOptions) { o.autoCommit = max(interval, 0) }
}

// WithFetchMaxBytes sets the most record bytes the broker puts in one
// batch (default 1 MiB, at most 16 MiB; a larger record still comes,
// alone). The consumer holds a few batches ahead of the Records loop.
func WithFetchMaxBytes(n int32) ConsumerOption {
	return func(o *consumerOptions) { o.maxBytes = n }
}

// OnAssigned is called, from the Records loop and before any record of
// them, with the partitions the group has just given the consumer, by
// topic. Seek there to start them elsewhere than the committed offset.
func OnAssigned(fn func(ctx context.Context, partitions map[string][]int32)) ConsumerOption {
	return func(o *consumerOptions) { o.onAssigned = fn }
}

// OnRevoked is called, from the Records loop and after the last record of
// them, with the partitions the group has just taken from the consumer,
// by topic. Commit there (Commit, CommitRecords) when auto-commit is off:
// the partition moves to its new owner once the consumer committed what
// the broker sent it, or after the group's rebalance timeout, which also
// removes the consumer from the group. With auto-commit, the consumer
// commits them after the callback returns.
func OnRevoked(fn func(ctx context.Context, partitions map[string][]int32)) ConsumerOption {
	return func(o *consumerOptions) { o.onRevoked = fn }
}

// OnAssignment is called, from the Records loop, with each assignment
// event of the member stream as the broker sent it: the member id, the
// group and member epochs, every partition the member now reads and the
// ones it has just lost. It comes after OnRevoked and OnAssigned, before
// any record that follows the event, to show or log a member's
// assignment changes (runnel consume --print-assignments). A stream that
// re-attached after a failure starts with an event too, which may repeat
// the last. fn must not keep or change a.
func OnAssignment(fn func(ctx context.Context, a *runnelv1.GroupAssignment)) ConsumerOption {
	return func(o *consumerOptions) { o.onAssignment = fn }
}

// WithStopAtEnd makes the consumer read to the end rather than wait for
// more (SubscribeRequest.follow false): each partition's read ends at the
// partition's high watermark as it was when the read started, and
// Records ends, with no error, once every read has ended and its records
// were returned (Poll returns io.EOF then). A group member's partitions
// end where the broker's member stream without follow ends them: each at
// its high watermark when it was assigned, the stream once the member
// holds every partition the group means to give it and read each to its
// end; the member then leaves the group, keeping the partitions it was
// sent records of past the committed offset until Close commits them
// (with auto-commit) or the group's rebalance timeout passes.
//
// A read that restarts after a failure (its broker died) ends at the
// high watermark as it is at the restart, which may be later. A paused
// partition has not ended: Records waits for it to be resumed.
func WithStopAtEnd() ConsumerOption {
	return func(o *consumerOptions) { o.stopAtEnd = true }
}
