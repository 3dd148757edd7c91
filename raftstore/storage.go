package raftstore

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftstorev1 "github.com/runnel-broker/runnel/gen/runnel/raftstore/v1"
	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// storage is raft.Storage over a partition's segment log: the entries raft
// reads are the records readers read, stored once.
type storage struct {
	log *segment.Log

	mu    sync.Mutex // guards state and snap: read by raft, written by the loop and the appender
	state persistentState
	// snap is a state machine partition's latest durable snapshot (empty:
	// none yet), which raft sends a follower behind the log start.
	snap raftpb.Snapshot
	// stateMachine: the partition has a state machine (PartitionConfig.Apply).
	stateMachine bool
	// producers returns a data partition's producer state as of its
	// applied index, which its snapshots carry (see producers.go). Raft
	// asks for a snapshot on the raft loop, which owns that state.
	producers func() *raftstorev1.ProducerState

	// recent holds the entries appended and not yet applied, contiguous,
	// so that raft reading them back to apply them costs no copy out of
	// the segment store. (Raft hands over for applying only entries that
	// are stable, so it always reads them back.) The appender adds, the
	// raft loop reads and drops.
	rmu    sync.Mutex // guards recent
	recent []raftpb.Entry

	// faultErr is the first error reading the log that raft could not be
	// told (see raftError); the loop stops the partition on it.
	faultMu  sync.Mutex // guards faultErr
	faultErr error
}

// append writes entries to the log and remembers them until applied.
func (s *storage) append(entries []raftpb.Entry) error {
	err := s.log.Append(entries)
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if err != nil {
		s.recent = nil
		return err
	}
	first := entries[0].Index
	switch {
	case len(s.recent) == 0:
	case first > s.recent[0].Index && first <= s.recent[len(s.recent)-1].Index+1:
		// Raft replaced a suffix. NB: clipped, so that the append copies:
		// raft may still hold the replaced entries Entries returned.
		s.recent = slices.Clip(s.recent[:first-s.recent[0].Index])
	default:
		s.recent = nil
	}
	s.recent = append(s.recent, entries...)
	return nil
}

// appliedTo forgets the entries up to index.
func (s *storage) appliedTo(index uint64) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if len(s.recent) == 0 || index < s.recent[0].Index {
		return
	}
	if index >= s.recent[len(s.recent)-1].Index {
		s.recent = nil
		return
	}
	s.recent = s.recent[index-s.recent[0].Index+1:]
}

var _ raft.Storage = (*storage)(nil)

func (s *storage) InitialState() (raftpb.HardState, raftpb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.hard, s.state.conf, nil
}

func (s *storage) Entries(lo, hi, maxSize uint64) ([]raftpb.Entry, error) {
	if ents := s.recentEntries(lo, hi, maxSize); ents != nil {
		return ents, nil
	}
	ents, err := s.log.Entries(lo, hi, maxSize)
	return ents, s.raftError(err)
}

// raftError returns raft's own sentinels unwrapped: raft compares with ==.
// Raft panics on any other error from Storage, so raft is told the entry
// is compacted: at worst it offers the follower the log start as a
// snapshot, which loses nothing, and tries again later. A corrupt frame
// (a follower needs it, say) is also kept for fault, and the loop stops
// the partition on it; another error (no descriptor or mapping to be had
// at the moment, say) may pass.
func (s *storage) raftError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrCompacted):
		return raft.ErrCompacted
	case errors.Is(err, raft.ErrUnavailable):
		return raft.ErrUnavailable
	case errors.Is(err, segment.ErrCorrupt):
		s.faultMu.Lock()
		defer s.faultMu.Unlock()
		if s.faultErr == nil {
			s.faultErr = fmt.Errorf("read the log for raft: %w", err)
		}
	}
	return raft.ErrCompacted
}

// fault returns the error raftError kept, if any.
func (s *storage) fault() error {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faultErr
}

// recentEntries serves Entries from recent, or returns nil.
func (s *storage) recentEntries(lo, hi, maxSize uint64) []raftpb.Entry {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if n := len(s.recent); n > 0 && lo < hi && lo >= s.recent[0].Index && hi <= s.recent[n-1].Index+1 {
		ents := s.recent[lo-s.recent[0].Index : hi-s.recent[0].Index]
		// raft's size limit: at least one entry, then while within maxSize.
		size := uint64(ents[0].Size())
		for i := 1; i < len(ents); i++ {
			size += uint64(ents[i].Size())
			if size > maxSize {
				return ents[:i:i]
			}
		}
		return ents[:len(ents):len(ents)]
	}
	return nil
}

func (s *storage) Term(i uint64) (uint64, error) {
	t, err := s.log.Term(i)
	return t, s.raftError(err)
}

func (s *storage) LastIndex() (uint64, error) { return s.log.LastIndex(), nil }

func (s *storage) FirstIndex() (uint64, error) { return s.log.FirstIndex(), nil }

// Snapshot returns, for a data partition, metadata only: the log boundary
// and the voters. A data partition's state is its log, so a follower
// behind the log start needs nothing but the point to continue from (see
// shared/DESIGN.md). A state machine partition returns its latest durable
// snapshot (snapshot.go), whose index is at or past the log's boundary.
//
// NB: raft panics on an empty snapshot and on any error but
// ErrSnapshotTemporarilyUnavailable, which makes it try later: the answer
// while the log has never been compacted (raft asked only because
// raftError told it an entry was, for a fault the loop stops on).
func (s *storage) Snapshot() (raftpb.Snapshot, error) {
	if s.stateMachine {
		s.mu.Lock()
		snap := s.snap
		s.mu.Unlock()
		if raft.IsEmptySnap(snap) || s.fault() != nil {
			return raftpb.Snapshot{}, raft.ErrSnapshotTemporarilyUnavailable
		}
		return snap, nil
	}
	b := s.log.Boundary()
	if b.Index == 0 || s.fault() != nil {
		return raftpb.Snapshot{}, raft.ErrSnapshotTemporarilyUnavailable
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := proto.Marshal(&raftstorev1.SnapshotData{LogStartOffset: b.NextOffset, ConfIndex: s.state.confIndex,
		Producers: s.producers()})
	if err != nil {
		return raftpb.Snapshot{}, err
	}
	return raftpb.Snapshot{Data: data, Metadata: raftpb.SnapshotMetadata{
		Index:     b.Index,
		Term:      b.Term,
		ConfState: s.state.conf,
	}}, nil
}

// installSnapshot makes the log start after a leader's snapshot: what this
// replica holds before it goes, and so does the rest unless it agrees
// with the leader's log (segment.Log.SetBoundary). The snapshot's voters
// become this replica's; the appender saves them with the hard state.
func (s *storage) installSnapshot(snap raftpb.Snapshot) error {
	data, err := snapshotData(snap)
	if err != nil {
		return err
	}
	if err := s.log.SetBoundary(boundaryOf(snap, data)); err != nil {
		return fmt.Errorf("snapshot at index %d: %w", snap.Metadata.Index, err)
	}
	s.rmu.Lock()
	s.recent = nil
	s.rmu.Unlock()
	s.setConf(snap.Metadata.ConfState, data.ConfIndex)
	return nil
}

// boundaryOf is the log boundary a snapshot puts the log start after.
func boundaryOf(snap raftpb.Snapshot, data *raftstorev1.SnapshotData) segment.Boundary {
	return segment.Boundary{Index: snap.Metadata.Index, Term: snap.Metadata.Term, NextOffset: data.LogStartOffset}
}

// setSnapshot records a state machine's snapshot once it is durable.
func (s *storage) setSnapshot(snap raftpb.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = snap
}

func (s *storage) setHard(hs raftpb.HardState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.hard = hs
}

// setConf records the voters as of the configuration change at index.
func (s *storage) setConf(cs raftpb.ConfState, index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.conf = cs
	s.state.confIndex = index
}

func (s *storage) currentState() persistentState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}
