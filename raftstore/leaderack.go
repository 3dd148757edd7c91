package raftstore

import (
	"fmt"

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

// trackAppended notes the raft index of each entry of an append that a
// proposal waits for, and marks the proposals whose entries the append
// replaces: a newer leader overwrote them here. Such a proposal fails only
// once another entry is applied at its index (failReplaced): until then a
// leader that still has its entry may commit it (the raft paper's
// figure 8). LeaderOnly proposals of this leader start waiting for their
// append to be durable.
func (p *Partition) trackAppended(l *loopState, m raftpb.Message) {
	if len(l.waiting) == 0 {
		return
	}
	leader := p.node.BasicStatus().RaftState == raft.StateLeader
	for _, e := range m.Entries {
		var id uint64
		if e.Type == raftpb.EntryNormal && len(e.Data) > 0 {
			if h, _, err := segment.DecodeBatchHeader(e.Data); err == nil {
				id = h.ProposalID
			}
		}
		if old, ok := l.byIndex[e.Index]; ok && old.id != id {
			old.replaced = true
			delete(l.byIndex, e.Index)
			l.replaced++
		}
		prop, ok := l.waiting[id]
		if !ok || id == 0 {
			continue
		}
		if prop.replaced {
			prop.replaced = false
			l.replaced--
		}
		prop.index = e.Index
		l.byIndex[e.Index] = prop
		if leader && prop.durability == LeaderOnly {
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
			continue // failed meanwhile (its entry replaced)
		}
		base, _, err := p.log.EntryOffsets(a.index)
		l.finish(a.prop, proposalResult{baseOffset: base, err: err})
	}
	l.leaderAcks = l.leaderAcks[n:]
}

// failReplaced fails the proposals whose entries were replaced here once
// the entry applied at their index is another: theirs can never commit,
// so retrying cannot duplicate them (ErrNotLeader).
func (p *Partition) failReplaced(l *loopState, applied uint64) {
	if l.replaced == 0 {
		return
	}
	for _, prop := range l.waiting {
		if prop.replaced && prop.index <= applied {
			l.finish(prop, proposalResult{err: fmt.Errorf("%w: a newer leader's entry took its place", ErrNotLeader)})
		}
	}
}
