package offsets

import (
	"testing"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
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
