package raftstore

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftstorev1 "github.com/runnel-broker/runnel/gen/runnel/raftstore/v1"
	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// Raft trusts the messages it is stepped: a heartbeat whose commit index
// is past the log, an append whose entries skip an index, an empty
// proposal or a read request with no context make it panic, and a
// malformed entry or snapshot stops the partition when it is applied.
// Every message from a peer is therefore checked here first, on the
// partition's raft goroutine, against what a correct peer can send this
// replica; what fails is dropped, as a lossy network would drop it (raft
// recovers from loss, not from lies). Who the peer is the transport
// vouches for; that it is a member is the broker's business.

// maxTerm bounds the terms a peer may claim. A term only grows by one per
// election, so no real group comes near it; a forged one near 2^64 would
// make the next election's term overflow to zero.
const maxTerm = 1 << 48

// peerMessages are the message types one replica sends another. The rest
// are raft's local messages, which only this node's own code may step.
var peerMessages = map[raftpb.MessageType]bool{
	raftpb.MsgApp: true, raftpb.MsgAppResp: true,
	raftpb.MsgVote: true, raftpb.MsgVoteResp: true,
	raftpb.MsgPreVote: true, raftpb.MsgPreVoteResp: true,
	raftpb.MsgSnap:      true,
	raftpb.MsgHeartbeat: true, raftpb.MsgHeartbeatResp: true,
	raftpb.MsgTimeoutNow:     true,
	raftpb.MsgTransferLeader: true,
	raftpb.MsgReadIndex:      true, raftpb.MsgReadIndexResp: true,
	raftpb.MsgProp: true, // only where ForwardProposals is set: see checkInbound
}

// errRejected wraps why an inbound message was dropped.
var errRejected = errors.New("raftstore: message rejected")

// errNotVoting is why a rejoining replica drops a vote request: a correct
// peer's, which it may not answer yet (see PartitionConfig.Rejoin).
var errNotVoting = errors.New("raftstore: not voting while rejoining with a lost log")

// replicaView is what checkInbound needs to know of the replica.
type replicaView struct {
	self   uint64 // this replica's id
	leader uint64 // the leader it follows (0: none)
	// lastIndex is the last index of its log as raft sees it.
	lastIndex        uint64
	stateMachine     bool // PartitionConfig.Apply is set, without snapshots
	forwardProposals bool // PartitionConfig.ForwardProposals
	rejoining        bool // PartitionConfig.Rejoin, until caught up
}

// view returns the replica's view for checkInbound; on the loop goroutine.
func (p *Partition) view(l *loopState) replicaView {
	return replicaView{self: p.store.cfg.NodeID, leader: p.Leader(), lastIndex: l.lastIndex,
		stateMachine: p.cfg.Apply != nil && !p.cfg.snapshots(), forwardProposals: p.cfg.ForwardProposals, rejoining: p.rejoining}
}

// checkInbound returns why m, from a peer, must not be stepped into the
// replica, or nil.
func checkInbound(m raftpb.Message, r replicaView) error {
	self, lastIndex := r.self, r.lastIndex
	switch {
	case m.To != self:
		return fmt.Errorf("%w: addressed to node %d, this is node %d", errRejected, m.To, self)
	case m.From == 0 || m.From == self || raft.IsLocalMsgTarget(m.From):
		return fmt.Errorf("%w: sender %d is not a peer", errRejected, m.From)
	case !peerMessages[m.Type]:
		return fmt.Errorf("%w: %s is not a message between peers", errRejected, m.Type)
	case m.Term > maxTerm:
		return fmt.Errorf("%w: term %d is past any real election", errRejected, m.Term)
	case (m.Type == raftpb.MsgProp || m.Type == raftpb.MsgReadIndex) != (m.Term == 0):
		// NB: raft sends these two without a term and every other
		// message with one, and panics passing one on otherwise.
		return fmt.Errorf("%w: %s with term %d", errRejected, m.Type, m.Term)
	}
	switch m.Type {
	case raftpb.MsgVote, raftpb.MsgPreVote, raftpb.MsgTimeoutNow:
		if r.rejoining {
			// NB: not an error of the peer's: a vote from a replica
			// that forgot what it acknowledged is worth nothing.
			return fmt.Errorf("%w: %s", errNotVoting, m.Type)
		}
		if m.Type == raftpb.MsgTimeoutNow && m.From != r.leader {
			return fmt.Errorf("%w: MsgTimeoutNow from %d, not the leader", errRejected, m.From)
		}
	case raftpb.MsgHeartbeat:
		// NB: a leader's heartbeat carries min(its commit, our match):
		// past our log only if we lost what we acknowledged.
		if m.Commit > lastIndex {
			return fmt.Errorf("%w: heartbeat commits index %d past this replica's last index %d: "+
				"did this replica lose its log?", errRejected, m.Commit, lastIndex)
		}
	case raftpb.MsgApp:
		return checkAppend(m)
	case raftpb.MsgAppResp:
		if m.Index > lastIndex || m.RejectHint > lastIndex {
			return fmt.Errorf("%w: append response for index %d (hint %d) past the last index %d",
				errRejected, m.Index, m.RejectHint, lastIndex)
		}
	case raftpb.MsgSnap:
		return checkSnapshot(m, r.stateMachine)
	case raftpb.MsgReadIndex, raftpb.MsgReadIndexResp:
		if len(m.Entries) != 1 {
			return fmt.Errorf("%w: %s with %d entries, not 1", errRejected, m.Type, len(m.Entries))
		}
	case raftpb.MsgTransferLeader:
		// NB: a follower would pass it on to its leader with the term
		// set, which makes raft panic.
		if r.leader != self {
			return fmt.Errorf("%w: MsgTransferLeader to a replica that does not lead", errRejected)
		}
	case raftpb.MsgProp:
		return checkForwardedProposal(m, r.forwardProposals)
	}
	return nil
}

// checkAppend checks that an append's entries follow its index without a
// gap, in terms that never go back, with contents this store could have
// written.
func checkAppend(m raftpb.Message) error {
	prevTerm := m.LogTerm
	for i, e := range m.Entries {
		if e.Index != m.Index+1+uint64(i) {
			return fmt.Errorf("%w: append after index %d has entry %d at position %d", errRejected, m.Index, e.Index, i)
		}
		if e.Term < prevTerm || e.Term > m.Term {
			return fmt.Errorf("%w: entry %d has term %d, out of order (previous %d, message %d)",
				errRejected, e.Index, e.Term, prevTerm, m.Term)
		}
		prevTerm = e.Term
		if err := checkEntry(e); err != nil {
			return err
		}
	}
	return nil
}

// checkEntry checks that an entry decodes as what it says it is.
func checkEntry(e raftpb.Entry) error {
	var err error
	switch e.Type {
	case raftpb.EntryNormal:
		if len(e.Data) > 0 {
			_, _, err = segment.DecodeBatchHeader(e.Data)
		}
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		err = cc.Unmarshal(e.Data)
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		err = cc.Unmarshal(e.Data)
	default:
		err = fmt.Errorf("unknown entry type %d", e.Type)
	}
	if err != nil {
		return fmt.Errorf("%w: entry %d: %v", errRejected, e.Index, err)
	}
	return nil
}

// checkSnapshot checks that a snapshot is one a leader of this partition
// sends: a state machine's leader without snapshots sends none (its log is
// never compacted).
func checkSnapshot(m raftpb.Message, stateMachine bool) error {
	if m.Snapshot == nil || raft.IsEmptySnap(*m.Snapshot) {
		return fmt.Errorf("%w: MsgSnap without a snapshot", errRejected)
	}
	if stateMachine {
		return fmt.Errorf("%w: snapshot for a state machine partition", errRejected)
	}
	snap := m.Snapshot
	if snap.Metadata.Term > m.Term || len(snap.Metadata.ConfState.Voters) == 0 {
		return fmt.Errorf("%w: snapshot at index %d with term %d and voters %v",
			errRejected, snap.Metadata.Index, snap.Metadata.Term, snap.Metadata.ConfState.Voters)
	}
	var data raftstorev1.SnapshotData
	if err := proto.Unmarshal(snap.Data, &data); err != nil || data.LogStartOffset < 0 {
		return fmt.Errorf("%w: snapshot data at index %d: %v", errRejected, snap.Metadata.Index, err)
	}
	return nil
}

// checkForwardedProposal accepts a follower's proposal only where followers
// forward them, and only batches this store can apply: raft panics on an
// empty proposal and on a configuration change it cannot decode.
func checkForwardedProposal(m raftpb.Message, forwardProposals bool) error {
	if !forwardProposals {
		return fmt.Errorf("%w: this partition takes proposals only from its own broker", errRejected)
	}
	if len(m.Entries) == 0 {
		return fmt.Errorf("%w: empty proposal", errRejected)
	}
	for _, e := range m.Entries {
		if e.Type != raftpb.EntryNormal || len(e.Data) == 0 {
			return fmt.Errorf("%w: proposal of a %s entry of %d bytes", errRejected, e.Type, len(e.Data))
		}
		if _, _, err := segment.DecodeBatchHeader(e.Data); err != nil {
			return fmt.Errorf("%w: proposal: %v", errRejected, err)
		}
	}
	return nil
}

// rejectLogInterval bounds how often a partition logs the messages it
// drops: a peer sending garbage must not flood the log too.
const rejectLogInterval = 10 * time.Second

// rejected logs a dropped message, at most once per rejectLogInterval,
// with the count dropped since.
func (p *Partition) rejected(l *loopState, m raftpb.Message, err error) {
	l.rejectedCount++
	if now := time.Now(); now.Sub(l.rejectLoggedAt) >= rejectLogInterval {
		p.logger.Warn("dropped raft messages that no correct peer sends",
			"from", m.From, "type", m.Type.String(), "reason", err, "dropped", l.rejectedCount)
		l.rejectLoggedAt, l.rejectedCount = now, 0
	}
}
