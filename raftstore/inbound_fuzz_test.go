package raftstore

import (
	"io"
	"log/slog"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// fuzzNode is a raft node configured as a partition's (voters 1, 2 and
// 3, this one 1) over a MemoryStorage holding a few batches, as leader or
// as node 2's follower.
func fuzzNode(t *testing.T, leading bool) (*raft.RawNode, *raft.MemoryStorage, replicaView) {
	storage := raft.NewMemoryStorage()
	batch := append(make([]byte, segment.BatchHeaderSize), "record"...)
	segment.PutBatchHeader(batch, segment.BatchHeader{RecordCount: 1})
	// NB: the snapshot stands for the bootstrap entries' voters.
	if err := storage.ApplySnapshot(raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{
		Index: 1, Term: 1, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}); err != nil {
		t.Fatal(err)
	}
	if err := storage.Append([]raftpb.Entry{{Index: 2, Term: 1, Data: batch}, {Index: 3, Term: 1, Data: batch}}); err != nil {
		t.Fatal(err)
	}
	if err := storage.SetHardState(raftpb.HardState{Term: 1, Commit: 2}); err != nil {
		t.Fatal(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: storage, Applied: 1,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum: true, PreVote: true, DisableProposalForwarding: true,
		Logger: raftLogger{slog.New(slog.NewTextHandler(io.Discard, nil))},
	})
	if err != nil {
		t.Fatal(err)
	}
	view := replicaView{self: 1}
	if leading {
		if err := rn.Campaign(); err != nil {
			t.Fatal(err)
		}
		drainReady(storage, rn)
		_ = rn.Step(raftpb.Message{Type: raftpb.MsgPreVoteResp, From: 2, To: 1, Term: rn.BasicStatus().Term + 1})
		drainReady(storage, rn)
		_ = rn.Step(raftpb.Message{Type: raftpb.MsgVoteResp, From: 2, To: 1, Term: rn.BasicStatus().Term})
		drainReady(storage, rn)
		if rn.BasicStatus().RaftState != raft.StateLeader {
			t.Fatalf("fuzz node is %s, not leader", rn.BasicStatus().RaftState)
		}
		view.leader = 1
	} else {
		_ = rn.Step(raftpb.Message{Type: raftpb.MsgHeartbeat, From: 2, To: 1, Term: 2, Commit: 2})
		drainReady(storage, rn)
		view.leader = 2
	}
	view.lastIndex, _ = storage.LastIndex()
	return rn, storage, view
}

// drainReady persists and "applies" what raft hands over, as the loop and
// the appender would.
func drainReady(storage *raft.MemoryStorage, rn *raft.RawNode) {
	for rn.HasReady() {
		rd := rn.Ready()
		if !raft.IsEmptySnap(rd.Snapshot) {
			_ = storage.ApplySnapshot(rd.Snapshot)
		}
		_ = storage.Append(rd.Entries)
		if !raft.IsEmptyHardState(rd.HardState) {
			_ = storage.SetHardState(rd.HardState)
		}
		rn.Advance(rd)
	}
}

// FuzzInbound: a message from a peer that checkInbound lets through never
// makes raft panic, stepped into a leader or a follower and handled to
// the end of its Ready.
func FuzzInbound(f *testing.F) {
	batch := append(make([]byte, segment.BatchHeaderSize), "x"...)
	segment.PutBatchHeader(batch, segment.BatchHeader{RecordCount: 1})
	for _, m := range []raftpb.Message{
		{Type: raftpb.MsgHeartbeat, From: 2, To: 1, Term: 2, Commit: 1 << 40},
		{Type: raftpb.MsgHeartbeat, From: 2, To: 1, Term: 2, Commit: 3},
		{Type: raftpb.MsgProp, From: 2, To: 1},
		{Type: raftpb.MsgProp, From: 2, To: 1, Entries: []raftpb.Entry{{Data: batch}}},
		{Type: raftpb.MsgReadIndex, From: 2, To: 1},
		{Type: raftpb.MsgReadIndex, From: 2, To: 1, Entries: []raftpb.Entry{{Data: []byte("ctx")}}},
		{Type: raftpb.MsgAppResp, From: 2, To: 1, Term: 2, Index: 1 << 40},
		{Type: raftpb.MsgAppResp, From: 2, To: 1, Term: 2, Index: 3},
		{Type: raftpb.MsgApp, From: 2, To: 1, Term: 2, Index: 3, LogTerm: 1, Commit: 4, Entries: []raftpb.Entry{{Index: 4, Term: 2, Data: batch}}},
		{Type: raftpb.MsgApp, From: 2, To: 1, Term: 2, Index: 1, LogTerm: 1, Entries: []raftpb.Entry{{Index: 5, Term: 2}}},
		{Type: raftpb.MsgSnap, From: 2, To: 1, Term: 2, Snapshot: &raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: 10, Term: 2, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}},
		{Type: raftpb.MsgVote, From: 2, To: 1, Term: 1 << 62, Index: 1 << 40, LogTerm: 1 << 62},
		{Type: raftpb.MsgTimeoutNow, From: 2, To: 1, Term: 2},
		{Type: raftpb.MsgTransferLeader, From: 2, To: 1, Term: 2},
		{Type: raftpb.MsgStorageAppendResp, From: raft.LocalAppendThread, To: 1, Index: 1 << 40},
	} {
		data, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, true)
		f.Add(data, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, leading bool) {
		var m raftpb.Message
		if m.Unmarshal(data) != nil {
			return
		}
		rn, storage, view := fuzzNode(t, leading)
		if checkInbound(m, view) != nil {
			return
		}
		_ = rn.Step(m)
		drainReady(storage, rn)
	})
}
