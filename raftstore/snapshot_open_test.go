package raftstore

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftstorev1 "github.com/runnel-broker/runnel/gen/runnel/raftstore/v1"
)

// TestOpenAfterLeadersSnapshotSaved opens a state machine partition as a
// follower's crash leaves it between saving its leader's snapshot and
// resetting its log to start after it (persist): the snapshot is past the
// log's end. The partition must open on the snapshot: its state restored,
// its log starting after the snapshot's index at its offset, and go on
// from there.
func TestOpenAfterLeadersSnapshotSaved(t *testing.T) {
	dir := t.TempDir()
	m := &listMachine{}
	pc := m.config(PartitionConfig{SnapshotEntries: 1000})
	s := openStore(t, dir)
	p, err := s.OpenPartition("meta-0", pc)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	for i := range 5 {
		propose(t, p, fmt.Sprint("own", i), 1)
	}
	last := p.log.LastIndex()
	st := p.storage.currentState()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	leaders := []string{"l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7"}
	state, err := json.Marshal(leaders)
	if err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(&raftstorev1.SnapshotData{LogStartOffset: 8, ConfIndex: st.confIndex, State: state})
	if err != nil {
		t.Fatal(err)
	}
	index := last + 20
	if err := writeSnapshot(filepath.Join(dir, "meta-0"), raftpb.Snapshot{Data: data, Metadata: raftpb.SnapshotMetadata{
		Index: index, Term: st.hard.Term, ConfState: st.conf}}); err != nil {
		t.Fatal(err)
	}

	m2 := &listMachine{}
	s = openStore(t, dir)
	defer s.Close()
	p, err = s.OpenPartition("meta-0", m2.config(PartitionConfig{SnapshotEntries: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	if got := m2.state(); !slices.Equal(got, leaders) {
		t.Fatalf("state %v on open, want the snapshot's %v", got, leaders)
	}
	if p.log.FirstIndex() != index+1 || p.LogStartOffset() != 8 {
		t.Fatalf("log starts at index %d, offset %d; want %d, 8", p.log.FirstIndex(), p.LogStartOffset(), index+1)
	}
	if off := propose(t, p, "next", 1); off != 8 {
		t.Fatalf("next batch at offset %d, want 8", off)
	}
	if got := m2.state(); len(got) != 9 || got[8] != "next" {
		t.Fatalf("state %v after the next batch", got)
	}
}
