// Package partitioner decides which partition a keyed record goes to,
// exactly as Kafka's default partitioner does, so that keys land where
// Kafka users expect: toPositive(murmur2(key)) % partitions.
//
// It is public, and imports nothing, because two users must agree bit for
// bit: the broker, which partitions a keyed record sent without a
// partition, and the Go SDK (client), which partitions before it batches.
// One implementation keeps them from drifting apart.
package partitioner
