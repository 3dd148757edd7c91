// Package controller holds what the metadata leader and the partitions'
// leaders decide about the cluster's layout, as pure functions: state in,
// next step out. It owns
//
//   - placement: which brokers hold a new topic's partitions, and which
//     of them is each one's preferred leader (Place, place.go);
//   - leader balancing: which partitions a broker hands back to their
//     preferred leader (BalanceLeaders, balance.go);
//   - shutdown: which voter each group a broker leads goes to as it
//     stops gracefully (HandOff, handoff.go);
//   - reassignment: the next step of moving a partition's replicas: add
//     learners, wait for them, promote and remove in one change, hand the
//     leadership off, finish (Reassign, reassign.go);
//   - the groups every broker replicates (metadata, consumer offsets):
//     which joined broker to add as a learner next (AddJoined, joined.go);
//   - decommissioning: where each replica of a broker being removed goes,
//     refused when a partition would be left under its replication
//     factor, and when the broker is gone from everything (Decommission,
//     decommission.go); which leaving broker the internal groups drop
//     next (RemoveLeft).
//
// It runs nothing: no raft, no goroutines, no clock, no randomness except
// what the caller passes in. The broker (server/internal/broker) gathers
// the state from the catalog and the raft store, calls the planner, and
// applies the step it returns; the next call sees the step applied, or
// not yet, and says what comes next. Brokers are named by node id, which
// is also their raft id, and a group's configuration is plain ids (Conf),
// so that the package imports neither raft nor gRPC (internal/deps
// enforces it).
//
// The tests are data-driven, as etcd-io/raft's confchange: each file of
// testdata/ holds commands with their input and the expected output, and
// `go test -rewrite` rewrites the expected output after a deliberate
// change.
package controller
