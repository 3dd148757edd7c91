package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestGroupAdmin: ListGroups, DescribeGroup, ResetOffsets and DeleteGroup
// on a group with a member, then without.
func TestGroupAdmin(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	admin := b.client.Admin
	b.createTopic("orders", 2, nil)
	b.producePerPartition("orders", 2, 4)
	_, err := admin.DescribeGroup(ctx, &runnelv1.DescribeGroupRequest{Group: "g"})
	wantCode(t, "describe a group that does not exist", err, codes.NotFound)

	m := b.join(&runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true, InstanceId: "pod-0"})
	m.until("m read everything", func() bool { return m.at(0) == 4 && m.at(1) == 4 })
	if err := m.commit("orders", 0); err != nil {
		t.Fatal(err)
	}
	list, err := admin.ListGroups(ctx, &runnelv1.ListGroupsRequest{})
	if err != nil || len(list.Groups) != 1 || list.Groups[0].Name != "g" || list.Groups[0].CoordinatorId != 1 {
		t.Fatalf("ListGroups: %v %v, want g coordinated by broker 1", list, err)
	}
	desc, err := admin.DescribeGroup(ctx, &runnelv1.DescribeGroupRequest{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	g := desc.Group
	if g.State != runnelv1.GroupState_GROUP_STATE_STABLE || g.CoordinatorId != 1 || len(g.Members) != 1 {
		t.Fatalf("DescribeGroup: %v, want stable, coordinated by 1, with one member", g)
	}
	if mem := g.Members[0]; mem.MemberId != m.assignment.MemberId || mem.InstanceId != "pod-0" || !mem.Connected ||
		len(mem.Assigned) != 1 || len(mem.Assigned[0].Partitions) != 2 || mem.ClientAddress == "" {
		t.Fatalf("member %v, want %s (pod-0) connected, reading both partitions, with its address", mem, m.assignment.MemberId)
	}
	want := []struct{ committed, lag int64 }{{4, 0}, {-1, 4}}
	for i, p := range g.Partitions {
		if p.CommittedOffset != want[i].committed || p.HighWatermark != 4 || p.Lag != want[i].lag || p.MemberId != m.assignment.MemberId {
			t.Errorf("partition %d: committed %d, high watermark %d, lag %d, member %q; want %d, 4, %d, %s",
				p.Partition, p.CommittedOffset, p.HighWatermark, p.Lag, p.MemberId, want[i].committed, want[i].lag, m.assignment.MemberId)
		}
	}

	_, err = admin.DeleteGroup(ctx, &runnelv1.DeleteGroupRequest{Group: "g"})
	wantCode(t, "delete a group with a member", err, codes.FailedPrecondition)
	_, err = admin.ResetOffsets(ctx, &runnelv1.ResetOffsetsRequest{Group: "g", Topic: "orders", To: &runnelv1.ResetOffsetsRequest_ToEarliest{ToEarliest: true}})
	wantCode(t, "reset a group with a member", err, codes.FailedPrecondition)
	_, err = b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: "g", Topic: "orders",
		Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: 0}}})
	wantCode(t, "a commit of no member to a group with a member", err, codes.FailedPrecondition)

	// A static member stays for the session timeout; a dynamic one that
	// committed what it read leaves at once.
	d := b.join(&runnelv1.SubscribeRequest{Topic: "orders", Group: "h", Follow: true})
	d.until("d read everything", func() bool { return d.at(0) == 4 && d.at(1) == 4 })
	if err := d.commit("orders", 0, 1); err != nil {
		t.Fatal(err)
	}
	d.cancel()
	waitFor(t, 10*time.Second, "group h empty", func() error {
		desc, err := admin.DescribeGroup(ctx, &runnelv1.DescribeGroupRequest{Group: "h"})
		if err != nil {
			return err
		}
		return is("h's state", desc.Group.State, runnelv1.GroupState_GROUP_STATE_EMPTY)
	})

	reset := func(to any, partitions []int32, dryRun bool) []int64 {
		t.Helper()
		req := &runnelv1.ResetOffsetsRequest{Group: "h", Topic: "orders", Partitions: partitions, DryRun: dryRun}
		switch to := to.(type) {
		case string:
			if to == "earliest" {
				req.To = &runnelv1.ResetOffsetsRequest_ToEarliest{ToEarliest: true}
			} else {
				req.To = &runnelv1.ResetOffsetsRequest_ToLatest{ToLatest: true}
			}
		case int64:
			req.To = &runnelv1.ResetOffsetsRequest_ToOffset{ToOffset: to}
		case int:
			req.To = &runnelv1.ResetOffsetsRequest_ShiftBy{ShiftBy: int64(to)}
		case time.Time:
			req.To = &runnelv1.ResetOffsetsRequest_ToTime{ToTime: timestamppb.New(to)}
		}
		resp, err := admin.ResetOffsets(ctx, req)
		if err != nil {
			t.Fatalf("reset to %v: %v", to, err)
		}
		var got []int64
		for _, p := range resp.Partitions {
			got = append(got, p.CommittedOffset)
		}
		return got
	}
	committed := func() map[int32]int64 {
		t.Helper()
		resp, err := b.client.Commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: "h", Topic: "orders"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int64{}
		for _, o := range resp.Offsets {
			out[o.Partition] = o.Offset
		}
		return out
	}
	if got := reset("earliest", nil, true); len(got) != 2 || got[0] != 0 || got[1] != 0 || committed()[0] != 4 {
		t.Fatalf("a dry run to earliest: %v, committed %v; want [0 0] and the commits kept", got, committed())
	}
	if got := reset(int64(2), []int32{1}, false); len(got) != 1 || got[0] != 2 || committed()[1] != 2 {
		t.Fatalf("reset partition 1 to 2: %v, committed %v", got, committed())
	}
	if got := reset(-3, nil, false); got[0] != 1 || got[1] != 0 {
		t.Fatalf("shift by -3: %v, want [1 0] (partition 1 clamped at the log start)", got)
	}
	if got := reset(int64(99), nil, false); got[0] != 4 || got[1] != 4 {
		t.Fatalf("reset to 99: %v, want the high watermarks", got)
	}
	if got := reset(time.Now().Add(-time.Hour), nil, false); got[0] != 0 || got[1] != 0 {
		t.Fatalf("reset to an hour ago: %v, want [0 0]", got)
	}
	if got := reset(time.Now().Add(time.Hour), nil, false); got[0] != 4 || got[1] != 4 {
		t.Fatalf("reset to an hour from now: %v, want the high watermarks", got)
	}
	if got := reset("earliest", nil, false); got[0] != 0 || got[1] != 0 {
		t.Fatalf("reset to earliest: %v", got)
	}
	_, err = admin.ResetOffsets(ctx, &runnelv1.ResetOffsetsRequest{Group: "h", Topic: "orders"})
	wantCode(t, "reset to nowhere", err, codes.InvalidArgument)
	_, err = admin.ResetOffsets(ctx, &runnelv1.ResetOffsetsRequest{Group: "h", Topic: "orders", Partitions: []int32{7},
		To: &runnelv1.ResetOffsetsRequest_ToEarliest{ToEarliest: true}})
	wantCode(t, "reset a partition that does not exist", err, codes.InvalidArgument)

	if _, err := admin.DeleteGroup(ctx, &runnelv1.DeleteGroupRequest{Group: "h"}); err != nil {
		t.Fatalf("delete h: %v", err)
	}
	if got := committed(); len(got) != 0 {
		t.Fatalf("h's offsets after the delete: %v", got)
	}
	_, err = admin.DeleteGroup(ctx, &runnelv1.DeleteGroupRequest{Group: "h"})
	wantCode(t, "delete a deleted group", err, codes.NotFound)
	list, err = admin.ListGroups(ctx, &runnelv1.ListGroupsRequest{})
	if err != nil || len(list.Groups) != 1 {
		t.Fatalf("ListGroups after the delete: %v %v, want g only", list, err)
	}
}

// TestGroupAssignorConfig: --group-assignor range lays out each topic
// on its own (three one-partition topics all go to the member whose id
// sorts first, where uniform would balance them 2 and 1), DescribeGroup
// names it, and an unknown one stops the start with a message that says
// what to use.
func TestGroupAssignorConfig(t *testing.T) {
	b := startBrokerWith(t, "", func(c *Config) { c.GroupAssignor = "range" })
	topics := []string{"t1", "t2", "t3"}
	for _, topic := range topics {
		b.createTopic(topic, 1, nil)
	}
	sub := &runnelv1.SubscribeRequest{Topics: topics, Group: "g", Follow: true}
	a := b.join(sub)
	a.until("a owns every topic", func() bool { return len(a.ownedAll) == 3 })
	c := b.join(sub)
	c.until("c's assignment", func() bool { return c.assignment != nil })
	first, second := a, c
	if c.assignment.MemberId < a.assignment.MemberId {
		first, second = c, a
	}
	first.until("the first by id owns all three", func() bool { return len(first.ownedAll) == 3 })
	second.until("the other owns none", func() bool { return len(second.ownedAll) == 0 })
	desc, err := b.client.Admin.DescribeGroup(context.Background(), &runnelv1.DescribeGroupRequest{Group: "g"})
	if err != nil || desc.Group.Assignor != "range" {
		t.Fatalf("DescribeGroup: %v %v, want the range assignor", desc, err)
	}

	cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", PeerListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", GroupAssignor: "sticky"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if srv, err := New(ctx, cfg); err == nil || !strings.Contains(err.Error(), "want uniform or range") {
		if srv != nil {
			_ = srv.Shutdown(ctx)
		}
		t.Fatalf("start with assignor sticky: %v, want a refusal naming the assignors", err)
	}
}
