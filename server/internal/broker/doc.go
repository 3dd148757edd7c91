// Package broker is Runnel's logic between the gRPC services and the raft
// store: topics (the catalog, replicated through the __cluster_metadata
// partition), producing (partitioning, validation, batching into raft
// proposals), reading, and consumer offsets (the __consumer_offsets
// partitions). It knows nothing of gRPC; the server maps its errors to
// status codes.
//
// Every decision has one home here: the partition of a record
// (partitioner), what a valid topic is (catalog), where a subscription
// starts (start.go).
package broker
