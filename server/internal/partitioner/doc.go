// Package partitioner decides which partition a keyed record goes to,
// exactly as Kafka's default partitioner does, so that keys land where
// Kafka users expect: toPositive(murmur2(key)) % partitions.
package partitioner
