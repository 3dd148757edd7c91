// Package transport carries raft messages between brokers: the multi-raft
// transport of shared/DESIGN.md. Each pair of brokers shares one
// bidirectional gRPC stream (runnel.raft.v1.RaftService, served on the
// broker's peer listener), opened and kept open by the broker
// with the lower node id; both multiplex the messages of all their raft
// groups over it, in batches.
//
// Sending never blocks the raft loops: messages go into a bounded queue
// per peer, and a full queue drops them, as a lossy network would. Raft is
// built for that: it retransmits, and the sender learns of a peer it cannot
// reach through the Unreachable callback (for RawNode.ReportUnreachable).
// Messages to one peer keep their order.
package transport
