// Package offsets holds consumer groups' committed offsets as a state
// machine fed by the records of the internal __consumer_offsets topic,
// Kafka's design: a commit is a record (key group/topic/partition, value
// an OffsetCommit), the latest record for a key wins, and replaying the
// topic on start rebuilds the table. A group's commits all go to the
// partition its id hashes to, whose leader is the group's coordinator.
package offsets
