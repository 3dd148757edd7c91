package server

import (
	"context"
	"fmt"
	"testing"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestCommitsSurviveRestart commits, restarts the broker on the same
// directory and resumes from the committed offsets.
func TestCommitsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	b.createTopic("jobs", 2, nil)
	for p := range int32(2) {
		mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "jobs", Partition: ptr(p), Records: records("a", "b", "c", "d")}))
	}
	ctx := context.Background()
	_, err := b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: "workers", Topic: "jobs", Offsets: []*runnelv1.PartitionOffset{
		{Partition: 0, Offset: 3}, {Partition: 1, Offset: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.stop()

	b = startBroker(t, dir)
	resp, err := b.client.Commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: "workers", Topic: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Offsets) != 2 || resp.Offsets[0].Offset != 3 || resp.Offsets[1].Offset != 1 {
		t.Fatalf("committed after restart = %v", resp.Offsets)
	}
	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "jobs", Group: "workers"})
	if err != nil {
		t.Fatal(err)
	}
	if v := values(got[0]); len(v) != 1 || v[0] != "d" {
		t.Fatalf("partition 0 resumed with %v, want [d]", v)
	}
	if v := values(got[1]); len(v) != 3 || v[0] != "b" {
		t.Fatalf("partition 1 resumed with %v, want [b c d]", v)
	}
	// Records produced before the restart are all there, after it too.
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "jobs", Partition: ptr(int32(0)), Records: records("e")}))
	all, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "jobs", Partitions: []int32{0}})
	if err != nil {
		t.Fatal(err)
	}
	if v := values(all[0]); len(v) != 5 || v[4] != "e" || all[0][4].Offset != 4 {
		t.Fatalf("partition 0 after restart: %v", v)
	}
}

// TestDeletedTopicStartsClean deletes a topic and creates it again: no
// records and no committed offsets come back.
func TestDeletedTopicStartsClean(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	ctx := context.Background()
	b.createTopic("t", 1, nil)
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "t", Records: records("old")}))
	if _, err := b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: "g", Topic: "t", Offsets: []*runnelv1.PartitionOffset{{Offset: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.Admin.DeleteTopic(ctx, &runnelv1.DeleteTopicRequest{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	b.createTopic("t", 1, nil)
	check := func() {
		t.Helper()
		got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got[0]) != 0 {
			t.Fatalf("recreated topic holds %v", values(got[0]))
		}
		resp, err := b.client.Commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: "g", Topic: "t"})
		if err != nil || len(resp.Offsets) != 0 {
			t.Fatalf("recreated topic has commits %v, %v", resp, err)
		}
	}
	check()
	// Records acknowledged in the new topic survive a restart (replaying
	// the deletion of the old topic must not touch the new one's files).
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "t", Records: records("a", "b", "c")}))
	b.stop()
	b = startBroker(t, dir)
	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if v := values(got[0]); fmt.Sprint(v) != "[a b c]" {
		t.Fatalf("recreated topic after restart holds %v, want [a b c]", v)
	}
}
