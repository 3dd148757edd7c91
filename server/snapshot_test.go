package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestInternalLogsCompacted creates and deletes topics and commits many
// offsets with the internal topics snapshotting every 20 entries: their
// logs' first segments are deleted behind the snapshots, and after a
// restart, which restores the snapshots, every topic (with its config and
// id) and every committed offset is there.
func TestInternalLogsCompacted(t *testing.T) {
	dir := t.TempDir()
	every := func(c *Config) { c.InternalSnapshotEntries = 20 }
	b := startBrokerWith(t, dir, every)
	ctx := context.Background()
	for i := range 40 {
		var cfg map[string]string
		if i%3 == 0 {
			cfg = map[string]string{"retention.bytes": fmt.Sprint(4096 * (i + 1))}
		}
		b.createTopic(fmt.Sprintf("t%02d", i), 2, cfg)
	}
	for i := 0; i < 40; i += 4 {
		if _, err := b.client.Admin.DeleteTopic(ctx, &runnelv1.DeleteTopicRequest{Name: fmt.Sprintf("t%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// 600 commits over 30 groups: the last of each group/topic wins.
	want := map[string]map[int32]int64{}
	for i := range 600 {
		group, topic := fmt.Sprintf("g%d", i%30), fmt.Sprintf("t%02d", 1+i%3)
		p := int32(i % 2)
		if _, err := b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: group, Topic: topic,
			Offsets: []*runnelv1.PartitionOffset{{Partition: p, Offset: int64(i)}}}); err != nil {
			t.Fatal(err)
		}
		k := group + "/" + topic
		if want[k] == nil {
			want[k] = map[int32]int64{}
		}
		want[k][p] = int64(i)
	}
	before, err := b.client.Admin.ListTopics(ctx, &runnelv1.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Topics) != 30 {
		t.Fatalf("%d topics, want 30", len(before.Topics))
	}
	// The first segment of each internal log goes once a snapshot covers
	// it (the appender deletes it after the loop snapshotted).
	internal := []string{"__cluster_metadata-0", "__consumer_offsets-0", "__consumer_offsets-1", "__consumer_offsets-2", "__consumer_offsets-3"}
	first := fmt.Sprintf("%020d.log", 1)
	waitFor(t, 10*time.Second, "the internal logs truncated behind their snapshots", func() error {
		for _, name := range internal {
			// NB: 30 groups hash to every offsets partition.
			if _, err := os.Stat(filepath.Join(dir, name, "snapshot")); err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			if _, err := os.Stat(filepath.Join(dir, name, first)); err == nil {
				return fmt.Errorf("%s still holds its first segment", name)
			}
		}
		return nil
	})
	b.stop()

	b = startBrokerWith(t, dir, every)
	after, err := b.client.Admin.ListTopics(ctx, &runnelv1.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(before.Topics, func(i, j int) bool { return before.Topics[i].Name < before.Topics[j].Name })
	sort.Slice(after.Topics, func(i, j int) bool { return after.Topics[i].Name < after.Topics[j].Name })
	if len(after.Topics) != len(before.Topics) {
		t.Fatalf("%d topics after the restart, %d before", len(after.Topics), len(before.Topics))
	}
	for i := range after.Topics {
		if !proto.Equal(after.Topics[i], before.Topics[i]) {
			t.Fatalf("after the restart %v, before %v", after.Topics[i], before.Topics[i])
		}
	}
	for k, offs := range want {
		group, topic, _ := strings.Cut(k, "/")
		resp, err := b.client.Commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: group, Topic: topic})
		if err != nil {
			t.Fatal(err)
		}
		got := map[int32]int64{}
		for _, o := range resp.Offsets {
			got[o.Partition] = o.Offset
		}
		for p, o := range offs {
			if got[p] != o {
				t.Fatalf("%s partition %d: committed %d after the restart, want %d", k, p, got[p], o)
			}
		}
	}
	// And it goes on.
	b.createTopic("later", 1, nil)
	if _, err := b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: "g0", Topic: "later",
		Offsets: []*runnelv1.PartitionOffset{{Offset: 0}}}); err != nil {
		t.Fatal(err)
	}
}

// TestStoppedBrokerCatchesUpFromSnapshots stops a broker of three while
// the others create topics and commit offsets far past what their
// internal logs keep behind their snapshots: restarted, it gets the
// leaders' snapshots (its own metadata log, which it never snapshotted,
// is reset to start after the leader's snapshot), and it knows every
// topic and every committed offset.
func TestStoppedBrokerCatchesUpFromSnapshots(t *testing.T) {
	brokers := startClusterWith(t, 3, func(c *Config) { c.InternalSnapshotEntries = 10 })
	ctx := context.Background()
	stopped := brokers[2]
	stopped.stop()
	first := fmt.Sprintf("%020d.log", 1)
	if _, err := os.Stat(filepath.Join(stopped.dir, "__cluster_metadata-0", first)); err != nil {
		t.Fatalf("the stopped broker's metadata log: %v", err)
	}

	for i := range 12 {
		if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: fmt.Sprintf("t%d", i), Partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// NB: more metadata entries than the stopped broker's log and two
	// snapshot intervals: however the leader's snapshots fall between
	// applied batches, its log starts past what the stopped broker holds.
	for i := range 10 {
		name := fmt.Sprintf("churn%d", i)
		if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: name, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := brokers[0].client.Admin.DeleteTopic(ctx, &runnelv1.DeleteTopicRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	// A group whose offsets partition the stopped broker led has no
	// coordinator until the others elect a leader for it: its commits
	// are refused as Unavailable ("retry"), and retried as a client does.
	for i := range 120 {
		waitFor(t, 10*time.Second, "a commit", func() error {
			_, err := brokers[0].client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: fmt.Sprintf("g%d", i%12), Topic: fmt.Sprintf("t%d", i%12),
				Offsets: []*runnelv1.PartitionOffset{{Offset: int64(i)}}})
			if err != nil && status.Code(err) != codes.Unavailable {
				t.Fatal(err)
			}
			return err
		})
	}
	waitFor(t, 10*time.Second, "the running brokers' metadata logs truncated", func() error {
		for _, b := range brokers[:2] {
			if _, err := os.Stat(filepath.Join(b.dir, "__cluster_metadata-0", first)); err == nil {
				return fmt.Errorf("broker %d still holds its first metadata segment", b.cfg.NodeID)
			}
		}
		return nil
	})

	if err := stopped.start(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(stopped.dir, "__cluster_metadata-0", first)); err == nil {
		t.Fatal("the restarted broker kept its first metadata segment: it caught up without the leader's snapshot")
	}
	waitFor(t, 30*time.Second, "the restarted broker to know every topic and offset", func() error {
		resp, err := stopped.client.Admin.ListTopics(ctx, &runnelv1.ListTopicsRequest{})
		if err != nil {
			return err
		}
		if len(resp.Topics) != 12 {
			return fmt.Errorf("%d topics", len(resp.Topics))
		}
		for g := range 12 {
			resp, err := stopped.client.Commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: fmt.Sprintf("g%d", g), Topic: fmt.Sprintf("t%d", g)})
			if err != nil {
				return err
			}
			if len(resp.Offsets) != 1 || resp.Offsets[0].Offset != int64(108+g) {
				return fmt.Errorf("group g%d committed %v, want %d", g, resp.Offsets, 108+g)
			}
		}
		return nil
	})
}
