// Package catalog is the cluster's metadata as a state machine: the
// topics, their configuration and their partitions' replicas, rebuilt by
// applying the MetadataRecords of the __cluster_metadata log in order.
// It also owns the rules for what a valid topic name and configuration
// are, so that every entry point validates the same way.
package catalog
