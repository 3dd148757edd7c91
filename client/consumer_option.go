package client

import (
	"context"
	"time"
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
