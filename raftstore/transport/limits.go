package transport

import "github.com/runnel-broker/runnel/raftstore"

// The message size limits of the raft path, tied here so that they cannot
// drift apart: every accepted batch must be carried to the followers, or
// its partition stops committing (a raft entry the transport cannot send
// is retried forever).
//
//   - raftstore.MaxMessageBytes bounds every gRPC message a broker
//     receives: the server's MaxRecvMsgSize, and both ends of the
//     transport's streams.
//   - A Batch closes once it holds DefaultMaxBatchBytes, so it holds less
//     than that of other messages plus one more message.
//   - A raft MsgApp holds entries up to raft's MaxSizePerMsg (a few MiB),
//     or one entry alone when that entry is larger.
//
// So a Batch stays under MaxMessageBytes as long as no entry is larger
// than raftstore.MaxEntryBytes: raftstore refuses larger ones
// (Partition.Submit), and the broker refuses a produce request whose
// batch would be larger.
const (
	// MaxMessageBytes is the largest gRPC message a broker receives.
	MaxMessageBytes = raftstore.MaxMessageBytes
	// MaxEntryBytes is the largest raft entry's data the transport
	// carries.
	MaxEntryBytes = raftstore.MaxEntryBytes
	// DefaultMaxBatchBytes is Config.MaxBatchBytes' default and its most.
	DefaultMaxBatchBytes = 16 << 20
	// messageSlack covers what a message adds to its entries: the raft
	// message's fields, an entry's index and term, the envelope.
	messageSlack = 1 << 20
)

// NB: fails to compile if a full Batch plus the largest entry could
// exceed MaxMessageBytes.
var _ [MaxMessageBytes - DefaultMaxBatchBytes - MaxEntryBytes - messageSlack]struct{}
