// Package broker is Runnel's logic between the gRPC services and the raft
// store: topics (the catalog, replicated through the __cluster_metadata
// partition), producing (partitioning, validation, batching into raft
// proposals), reading, and consumer offsets (the __consumer_offsets
// partitions), cluster membership, and carrying out placement,
// reassignment and leader balancing, which server/internal/controller
// plans: the broker gathers the state from the catalog and the raft
// store, asks the controller for the next step and applies it (plan.go
// converts between the two). It knows nothing of gRPC (internal/deps
// enforces it): the server hands it the raft transport, converts the
// API's types to its own, sends what it says another broker serves (a
// Forward, a NotReplicatedError's replicas) through server/internal/peer,
// and maps its errors to status codes.
//
// Every decision has one home here: the partition of a record
// (partitioner), what a valid topic is (catalog), where replicas go and
// what a reassignment, leader balancing or a joined broker calls for
// (controller), where a partition's records go (Broker.Produce and
// produceReplicated, produce.go), where a subscription starts
// (Reader.StartOffset, read.go).
package broker
