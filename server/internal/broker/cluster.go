package broker

import (
	"maps"
	"math/rand/v2"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"

	"github.com/runnel-broker/runnel/raftstore/transport"
)

// Member is one broker of the cluster.
type Member struct {
	NodeID  int32
	Address string // where it serves gRPC, to clients and brokers alike
}

// Members lists the brokers by node id.
func (b *Broker) Members() []Member {
	out := make([]Member, 0, len(b.cfg.Peers))
	for _, id := range slices.Sorted(maps.Keys(b.cfg.Peers)) {
		out = append(out, Member{NodeID: id, Address: b.cfg.Peers[id]})
	}
	return out
}

// Member returns the broker with this id, if the cluster has one.
func (b *Broker) Member(id int32) (Member, bool) {
	addr, ok := b.cfg.Peers[id]
	return Member{NodeID: id, Address: addr}, ok
}

// allVoters are the voters of the groups every broker replicates: the
// metadata log and the consumer offsets.
func (b *Broker) allVoters() []uint64 {
	var out []uint64
	for _, m := range b.Members() {
		out = append(out, uint64(m.NodeID))
	}
	return out
}

// campaignsFirst says whether this broker stands for election at once in
// a new group that every broker replicates: the lowest id does, so that
// the first election of a new cluster is not a contest.
func (b *Broker) campaignsFirst() bool { return b.Members()[0].NodeID == b.cfg.NodeID }

// place assigns the replicas of a new topic's partitions, Kafka style:
// partition p's replicas are rf consecutive brokers (in id order) from a
// random start plus p, so that replicas and preferred leaders (the first
// replica) spread evenly over the brokers.
func (b *Broker) place(partitions, rf int32) [][]int32 {
	members := b.Members()
	n := len(members)
	start := rand.IntN(n)
	out := make([][]int32, partitions)
	for p := range out {
		for i := range int(rf) {
			out[p] = append(out[p], members[(start+p+i)%n].NodeID)
		}
	}
	return out
}

// startTransport creates the raft transport to the other brokers (none on
// a single node). Messages it receives go to the store.
func (b *Broker) startTransport() error {
	if len(b.cfg.Peers) < 2 {
		return nil
	}
	b.transport = transport.New(transport.Config{
		NodeID:      uint64(b.cfg.NodeID),
		Handle:      func(group string, m raftpb.Message) { b.store.Step(group, m) },
		Unreachable: func(peer uint64) { b.store.ReportUnreachable(peer) },
		Logger:      b.logger,
	})
	for _, m := range b.Members() {
		if m.NodeID == b.cfg.NodeID {
			continue
		}
		if err := b.transport.AddPeer(uint64(m.NodeID), m.Address); err != nil {
			return err
		}
	}
	return nil
}

// RegisterRaft serves the raft transport on s, the broker's gRPC server:
// the other brokers reach this one on the listener clients use.
func (b *Broker) RegisterRaft(s *grpc.Server) {
	if b.transport != nil {
		b.transport.Register(s)
	}
}

// BrokerStates says, as the controller sees them, which brokers are
// online: those in sync in the metadata group. Nil unless this broker is
// the controller.
func (b *Broker) BrokerStates() map[int32]bool {
	if b.ControllerID() != b.cfg.NodeID {
		return nil
	}
	online := map[int32]bool{}
	for _, m := range b.Members() {
		online[m.NodeID] = false
	}
	for _, id := range b.meta.InSync() {
		online[int32(id)] = true
	}
	return online
}
