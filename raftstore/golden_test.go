package raftstore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftstorev1 "github.com/runnel-broker/runnel/gen/runnel/raftstore/v1"
	"github.com/runnel-broker/runnel/internal/golden"
)

// goldenState is the content of raft_state.golden.
func goldenState() persistentState {
	return persistentState{
		hard:      raftpb.HardState{Term: 5, Vote: 2, Commit: 41},
		conf:      raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}},
		confIndex: 17,
	}
}

func statesEqual(a, b persistentState) bool {
	return a.hard == b.hard && a.confIndex == b.confIndex &&
		slices.Equal(a.conf.Voters, b.conf.Voters) && slices.Equal(a.conf.Learners, b.conf.Learners) &&
		slices.Equal(a.conf.VotersOutgoing, b.conf.VotersOutgoing) &&
		slices.Equal(a.conf.LearnersNext, b.conf.LearnersNext) && a.conf.AutoLeave == b.conf.AutoLeave
}

func TestGoldenStateFile(t *testing.T) {
	dir := t.TempDir()
	if err := writeState(dir, goldenState()); err != nil {
		t.Fatal(err)
	}
	b := golden.Check(t, "raft_state.golden", mustRead(t, filepath.Join(dir, stateFileName)))
	rdir := t.TempDir()
	mustWrite(t, filepath.Join(rdir, stateFileName), b)
	got, ok, err := readState(rdir)
	if err != nil || !ok || !statesEqual(got, goldenState()) {
		t.Fatalf("read %+v (found %v, %v), want %+v", got, ok, err, goldenState())
	}
}

// TestGoldenPartitionMarkers opens a partition that rejoins with a lost log
// in a directory of a given incarnation, and checks the markers it leaves
// beside its log: incarnation holds the incarnation, rejoining is empty
// (its presence is the mark).
func TestGoldenPartitionMarkers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	p, err := s.OpenPartition("t-0", PartitionConfig{Incarnation: "topic-id-7", Rejoin: true, Voters: []uint64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	pdir := filepath.Join(dir, "t-0")
	inc := golden.Check(t, "incarnation.golden", mustRead(t, filepath.Join(pdir, incarnationFile)))
	rejoin := golden.Check(t, "rejoining.golden", mustRead(t, filepath.Join(pdir, rejoiningFile)))

	// Read back: a directory holding the golden markers is of incarnation
	// "topic-id-7" (kept, not emptied) and rejoining.
	rdir := t.TempDir()
	rs := openStore(t, rdir)
	defer rs.Close()
	rpdir := filepath.Join(rdir, "t-0")
	if err := os.Mkdir(rpdir, 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(rpdir, incarnationFile), inc)
	mustWrite(t, filepath.Join(rpdir, rejoiningFile), rejoin)
	mustWrite(t, filepath.Join(rpdir, "kept"), nil)
	if err := prepareDir(rs, rpdir, "topic-id-7", rs.cfg.Logger); err != nil {
		t.Fatal(err)
	}
	if ok, err := fileExists(filepath.Join(rpdir, "kept")); err != nil || !ok {
		t.Fatalf("the directory of incarnation %q was emptied (%v)", inc, err)
	}
	rp, err := rs.OpenPartition("t-0", PartitionConfig{Incarnation: "topic-id-7", Voters: []uint64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if !rp.rejoining {
		t.Fatal("a partition with the golden rejoining marker is not rejoining")
	}
}

// TestGoldenStateFileWithoutConfIndex reads a state file as brokers wrote
// it before the conf index (the same layout, ending after the ConfState):
// it must read with a conf index of 0. The golden file is what
// encodeState writes less the conf index chunk, checksummed again.
func TestGoldenStateFileWithoutConfIndex(t *testing.T) {
	st := goldenState()
	st.confIndex = 0
	b, err := encodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	b = b[:len(b)-12]
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(b[8:], castagnoli))
	b = golden.Check(t, "raft_state_without_conf_index.golden", b)
	rdir := t.TempDir()
	mustWrite(t, filepath.Join(rdir, stateFileName), b)
	got, ok, err := readState(rdir)
	if err != nil || !ok || !statesEqual(got, st) {
		t.Fatalf("read %+v (found %v, %v), want %+v", got, ok, err, st)
	}
}

// goldenSnapshot is the content of snapshot.golden: a state machine's
// snapshot as the snapshot file holds it.
func goldenSnapshot(t *testing.T) raftpb.Snapshot {
	data, err := proto.Marshal(&raftstorev1.SnapshotData{LogStartOffset: 42, ConfIndex: 3, State: []byte("the state machine's state")})
	if err != nil {
		t.Fatal(err)
	}
	return raftpb.Snapshot{Data: data, Metadata: raftpb.SnapshotMetadata{
		Index: 57, Term: 4, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}},
	}}
}

func TestGoldenSnapshotFile(t *testing.T) {
	dir := t.TempDir()
	if err := writeSnapshot(dir, goldenSnapshot(t)); err != nil {
		t.Fatal(err)
	}
	b := golden.Check(t, "snapshot.golden", mustRead(t, filepath.Join(dir, snapshotFileName)))
	rdir := t.TempDir()
	mustWrite(t, filepath.Join(rdir, snapshotFileName), b)
	snap, data, ok, err := readSnapshot(rdir)
	want := goldenSnapshot(t)
	if err != nil || !ok || snap.Metadata.Index != 57 || snap.Metadata.Term != 4 ||
		!slices.Equal(snap.Metadata.ConfState.Voters, want.Metadata.ConfState.Voters) ||
		!slices.Equal(snap.Metadata.ConfState.Learners, want.Metadata.ConfState.Learners) ||
		data.LogStartOffset != 42 || data.ConfIndex != 3 || string(data.State) != "the state machine's state" {
		t.Fatalf("read %+v, %+v (found %v, %v), want %+v", snap.Metadata, data, ok, err, want.Metadata)
	}
	// A damaged file is refused, not taken for an empty state.
	b = slices.Clone(b)
	b[len(b)-1] ^= 1
	mustWrite(t, filepath.Join(rdir, snapshotFileName), b)
	if _, _, _, err := readSnapshot(rdir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a damaged snapshot file: %v, want ErrCorrupt", err)
	}
}
