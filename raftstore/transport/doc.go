// Package transport carries raft messages between brokers: the multi-raft
// transport of shared/DESIGN.md. Each broker keeps one gRPC stream open to
// each peer (runnel.raft.v1.RaftService, served on the same listener as
// the public API) and multiplexes the messages of all its raft groups over
// it, in batches.
//
// Sending never blocks the raft loops: messages go into a bounded queue
// per peer, and a full queue drops them, as a lossy network would. Raft is
// built for that: it retransmits, and the sender learns of a peer it cannot
// reach through the Unreachable callback (for RawNode.ReportUnreachable).
// Messages to one peer keep their order.
package transport
