package raftstore

import (
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// Proposals with LeaderOnly durability complete when the leader's own
// append is durable, before the entry commits. The loop learns each one's
// raft index when it hands the entry to the appender, and completes it
// when the appender reports that index durable.

// leaderAck is a LeaderOnly proposal whose entry is being appended.
type leaderAck struct {
	index uint64
	prop  *proposal
}

// trackLeaderAcks notes the entries of an append that LeaderOnly
// proposals of this leader wait for.
func (p *Partition) trackLeaderAcks(l *loopState, m raftpb.Message) {
	if p.node.BasicStatus().RaftState != raft.StateLeader {
		return
	}
	for _, e := range m.Entries {
		if e.Type != raftpb.EntryNormal || len(e.Data) < segment.BatchHeaderSize {
			continue
		}
		h, _, err := segment.DecodeBatchHeader(e.Data)
		if err != nil {
			continue
		}
		if prop, ok := l.waiting[h.ProposalID]; ok && prop.durability == LeaderOnly {
			l.leaderAcks = append(l.leaderAcks, leaderAck{index: e.Index, prop: prop})
		}
	}
}

// completeLeaderAcks completes the LeaderOnly proposals whose entries the
// appender reported durable: a self-addressed MsgStorageAppendResp
// carries the last index it made durable.
func (p *Partition) completeLeaderAcks(l *loopState, msgs []raftpb.Message) {
	if len(l.leaderAcks) == 0 {
		return
	}
	var durable uint64
	for _, m := range msgs {
		if m.Type == raftpb.MsgStorageAppendResp && m.To == p.store.cfg.NodeID && m.Index > 0 {
			durable = max(durable, m.Index)
		}
	}
	n := 0
	for _, a := range l.leaderAcks {
		if a.index > durable {
			break
		}
		n++
		if _, waiting := l.waiting[a.prop.id]; !waiting {
			continue // failed meanwhile (leadership lost)
		}
		delete(l.waiting, a.prop.id)
		base, _, err := p.log.EntryOffsets(a.index)
		a.prop.result <- proposalResult{baseOffset: base, err: err}
	}
	l.leaderAcks = l.leaderAcks[n:]
}
