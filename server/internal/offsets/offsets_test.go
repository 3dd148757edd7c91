package offsets

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
	"github.com/runnel-broker/runnel/internal/golden"
)

func TestLatestCommitWins(t *testing.T) {
	tb := New()
	tb.Apply(&metav1.OffsetCommit{Group: "g", Topic: "t", TopicId: "id1", Partition: 0, Offset: 5})
	tb.Apply(&metav1.OffsetCommit{Group: "g", Topic: "t", TopicId: "id1", Partition: 1, Offset: 7})
	tb.Apply(&metav1.OffsetCommit{Group: "g", Topic: "t", TopicId: "id1", Partition: 0, Offset: 9})
	tb.Apply(&metav1.OffsetCommit{Group: "other", Topic: "t", TopicId: "id1", Partition: 0, Offset: 1})
	got := tb.Committed("g", "id1")
	if len(got) != 2 || got[0] != 9 || got[1] != 7 {
		t.Fatalf("Committed = %v, want map[0:9 1:7]", got)
	}
	// The same name created again has a new id and no commits.
	if got := tb.Committed("g", "id2"); len(got) != 0 {
		t.Fatalf("Committed for a new topic id = %v, want none", got)
	}
}

func TestPartitionForIsStable(t *testing.T) {
	for _, g := range []string{"a", "billing", "g-17"} {
		p := PartitionFor(g)
		if p < 0 || p >= Partitions || p != PartitionFor(g) {
			t.Fatalf("PartitionFor(%q) = %d", g, p)
		}
	}
}

// TestSnapshotRestoreThenApplyIsReplay takes each partition's snapshot
// midway through a stream of commits, restores them into a new table and
// applies the rest: the table is the one applying everything builds, down
// to the snapshots' bytes. Restoring one partition leaves the groups of the
// others as they are.
func TestSnapshotRestoreThenApplyIsReplay(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var commits []*metav1.OffsetCommit
	for i := range 5000 {
		commits = append(commits, &metav1.OffsetCommit{
			Group:     fmt.Sprintf("g%d", rng.IntN(40)),
			TopicId:   fmt.Sprintf("id%d", rng.IntN(5)),
			Partition: rng.Int32N(8),
			Offset:    int64(i),
		})
	}
	const cut = 2917
	replay, mid := New(), New()
	for _, c := range commits {
		replay.Apply(c)
	}
	for _, c := range commits[:cut] {
		mid.Apply(c)
	}
	restored := New()
	restored.Apply(&metav1.OffsetCommit{Group: "g1", TopicId: "stale", Partition: 0, Offset: 99})
	for p := range int32(Partitions) {
		snap, err := mid.Snapshot(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := restored.Restore(p, snap); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range commits[cut:] {
		restored.Apply(c)
	}
	for g := range 40 {
		for id := range 5 {
			group, topic := fmt.Sprintf("g%d", g), fmt.Sprintf("id%d", id)
			if want, got := replay.Committed(group, topic), restored.Committed(group, topic); !maps.Equal(want, got) {
				t.Fatalf("%s/%s: restored then applied %v, replayed %v", group, topic, got, want)
			}
		}
	}
	if got := restored.Committed("g1", "stale"); len(got) != 0 {
		t.Fatalf("a commit the snapshot does not hold survived its restore: %v", got)
	}
	for p := range int32(Partitions) {
		a, _ := replay.Snapshot(p)
		b, _ := restored.Snapshot(p)
		if !bytes.Equal(a, b) {
			t.Fatalf("partition %d: the snapshots differ", p)
		}
	}

	// One partition's restore touches only its groups.
	other := PartitionFor("g1") + 1
	if other == Partitions {
		other = 0
	}
	empty, _ := New().Snapshot(other)
	if err := restored.Restore(other, empty); err != nil {
		t.Fatal(err)
	}
	if want, got := replay.Committed("g1", "id1"), restored.Committed("g1", "id1"); !maps.Equal(want, got) {
		t.Fatalf("restoring partition %d changed g1 (partition %d): %v, want %v", other, PartitionFor("g1"), got, want)
	}
	if err := restored.Restore(0, []byte{0x08, 0x07}); err == nil {
		t.Fatal("a snapshot of version 7 restored")
	}
}

// TestGoldenOffsetsSnapshot pins the offsets snapshot's encoding; the
// golden bytes restore to the same offsets.
func TestGoldenOffsetsSnapshot(t *testing.T) {
	tb := New()
	p := PartitionFor("billing")
	tb.Apply(&metav1.OffsetCommit{Group: "billing", Topic: "orders", TopicId: "id-o", Partition: 0, Offset: 17})
	tb.Apply(&metav1.OffsetCommit{Group: "billing", Topic: "orders", TopicId: "id-o", Partition: 3, Offset: 4})
	tb.Apply(&metav1.OffsetCommit{Group: "billing", Topic: "audit", TopicId: "id-a", Partition: 0, Offset: 1})
	snap, err := tb.Snapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	b := golden.Check(t, "offsets_snapshot.golden", snap)
	r := New()
	if err := r.Restore(p, b); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"id-o", "id-a"} {
		if got, want := r.Committed("billing", id), tb.Committed("billing", id); !maps.Equal(got, want) {
			t.Fatalf("restored %s: %v, want %v", id, got, want)
		}
	}
}
