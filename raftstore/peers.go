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
// straight back into raft, the others to the transport once their term is
// durable (see mustHold). Called by the loop only.
func (p *Partition) send(msgs []raftpb.Message) error {
	for _, m := range msgs {
		if m.To == p.store.cfg.NodeID {
			if err := p.node.Step(m); err != nil {
				return err
			}
			continue
		}
		p.held = append(p.held, m)
	}
	p.releaseHeld()
	return nil
}

// mustHold reports whether m must wait for its term to be durable here.
//
// NB: with AsyncStorageWrites raft sends some messages at a term it has
// only handed to the appender: a leader elected by the votes of others
// before its own vote for itself was saved sends appends and heartbeats
// at once, and so does a follower answering a new leader. Should this
// replica crash before the new term is saved, it would come back at the
// old term and could stand again in the new one, and win it with the votes
// it had: two leaderships of one term, whose entries at the same index and
// term may differ (TestGroupPowerLoss found it). statefile.go promises
// that nothing raft sends depends on a term not yet durable: held here
// until it is. A pre-vote's term is not raft's own and is never saved.
func (p *Partition) mustHold(m raftpb.Message) bool {
	if m.Type == raftpb.MsgPreVote || m.Type == raftpb.MsgPreVoteResp {
		return false
	}
	return m.Term > p.durableTerm.Load()
}

// releaseHeld sends the held messages, in order, up to the first whose
// term is not durable yet. The loop calls it after every event: the
// appender's responses follow the save of a new term.
func (p *Partition) releaseHeld() {
	n := 0
	for n < len(p.held) && !p.mustHold(p.held[n]) {
		n++
	}
	if n == 0 {
		return
	}
	out := p.held[:n:n]
	p.held = append([]raftpb.Message(nil), p.held[n:]...)
	if p.store.cfg.Transport == nil {
		p.logger.Debug("dropping raft messages: no transport", "count", len(out))
		return
	}
	p.store.cfg.Transport.Send(p.name, out)
}
