package raftstore

import (
	"go.etcd.io/raft/v3/raftpb"
)

// Transport carries raft messages to the other brokers (see package
// raftstore/transport). Send must not block: a raft loop calls it, and a
// message it cannot deliver is dropped, as a lossy network would.
type Transport interface {
	Send(group string, msgs []raftpb.Message)
}

// Inbound is where a transport hands what it receives: a Store.
type Inbound interface {
	// Step takes a message from a peer for the group called group.
	Step(group string, m raftpb.Message)
	// ReportUnreachable says that messages to peer could not be sent.
	ReportUnreachable(peer uint64)
}

var _ Inbound = (*Store)(nil)

// inboundQueueSize bounds the messages from peers queued for one
// partition's raft loop; past it they are dropped and raft retransmits.
const inboundQueueSize = 4096

// Step hands a message from a peer to the raft group called group. It
// never blocks: a message for a partition that is not open here, or
// beyond a full queue, is dropped (raft retransmits).
func (s *Store) Step(group string, m raftpb.Message) {
	p := s.Partition(group)
	if p == nil {
		return
	}
	select {
	case p.inbound <- m:
	default:
		p.logger.Debug("dropping raft message: inbound queue full", "from", m.From, "type", m.Type)
	}
}

// ReportUnreachable tells every partition that messages to peer could not
// be sent, so that their leaders stop streaming to it until it answers.
func (s *Store) ReportUnreachable(peer uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.partitions {
		select {
		case p.unreachable <- peer:
		default: // one pending report is enough
		}
	}
}

// send routes messages to their destinations: this node's own go
// straight back into raft, the others to the transport.
func (p *Partition) send(msgs []raftpb.Message) error {
	var remote []raftpb.Message
	for _, m := range msgs {
		if m.To == p.store.cfg.NodeID {
			if err := p.node.Step(m); err != nil {
				return err
			}
			continue
		}
		remote = append(remote, m)
	}
	if len(remote) == 0 {
		return nil
	}
	if p.store.cfg.Transport == nil {
		p.logger.Debug("dropping raft messages: no transport", "count", len(remote))
		return nil
	}
	p.store.cfg.Transport.Send(p.name, remote)
	return nil
}
