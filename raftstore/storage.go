package raftstore

import (
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// storage is raft.Storage over a partition's segment log: the entries raft
// reads are the records readers read, stored once.
type storage struct {
	log *segment.Log

	mu    sync.Mutex // guards state: read by raft, written by the loop
	state persistentState
}

var _ raft.Storage = (*storage)(nil)

func (s *storage) InitialState() (raftpb.HardState, raftpb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.hard, s.state.conf, nil
}

func (s *storage) Entries(lo, hi, maxSize uint64) ([]raftpb.Entry, error) {
	return s.log.Entries(lo, hi, maxSize)
}

func (s *storage) Term(i uint64) (uint64, error) { return s.log.Term(i) }

func (s *storage) LastIndex() (uint64, error) { return s.log.LastIndex(), nil }

func (s *storage) FirstIndex() (uint64, error) { return s.log.FirstIndex(), nil }

// Snapshot returns metadata only: the log boundary and the voters. A
// partition's state is its log, so a follower behind the log start needs
// nothing but the point to continue from (see shared/DESIGN.md).
func (s *storage) Snapshot() (raftpb.Snapshot, error) {
	first := s.log.FirstIndex()
	term, err := s.log.Term(first - 1)
	if err != nil {
		return raftpb.Snapshot{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{
		Index:     first - 1,
		Term:      term,
		ConfState: s.state.conf,
	}}, nil
}

func (s *storage) setState(st persistentState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = st
}

func (s *storage) currentState() persistentState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}
