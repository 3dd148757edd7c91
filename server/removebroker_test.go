package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestRemoveBroker decommissions a broker that joined a cluster of three:
// its replicas of topics of replication factor 3 move to the others while
// producers go on, a topic created meanwhile gets none on it, it leaves
// DescribeCluster, records written before and after read back through
// every broker, and its process stops cleanly. Restarted, it is refused
// the cluster, as is a new broker under its node id. Bad requests get
// clear statuses: an unknown id, an initial broker.
func TestRemoveBroker(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	seed := brokers[0].srv.PeerAddr().String()
	dir := t.TempDir()
	leaving := startJoined(t, 4, seed, withDataDir(dir))
	peerAddr := leaving.srv.PeerAddr().String()
	waitFor(t, 30*time.Second, "broker 4 online", func() error {
		c, err := brokers[0].client.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
		if err != nil {
			return err
		}
		if len(c.Brokers) != 4 || c.Brokers[3].State != runnelv1.BrokerState_BROKER_STATE_ONLINE {
			return fmt.Errorf("brokers %v", c.Brokers)
		}
		return nil
	})
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "before", Partitions: 4, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	onLeaving := 0
	for _, p := range describe(t, brokers[0], "before").Partitions {
		if slices.Contains(p.Replicas, 4) {
			onLeaving++
		}
	}
	if onLeaving == 0 {
		t.Fatal("no partition of topic before has a replica on broker 4")
	}
	var want []string
	produce := func(via *testBroker, topic string, p int32, v string) error {
		resp := via.produce(&runnelv1.ProduceRequest{Topic: topic, Partition: &p, Records: []*runnelv1.Record{{Value: []byte(v)}}})
		if resp.Error != nil {
			return status.ErrorProto(resp.Error)
		}
		want = append(want, v)
		return nil
	}
	for p := range int32(4) {
		if err := produce(leaving, "before", p, fmt.Sprintf("before-%d", p)); err != nil {
			t.Fatal(err)
		}
	}

	_, err := brokers[1].client.Admin.RemoveBroker(ctx, &runnelv1.RemoveBrokerRequest{NodeId: 9})
	wantCode(t, "removing an unknown broker", err, codes.NotFound)
	_, err = brokers[1].client.Admin.RemoveBroker(ctx, &runnelv1.RemoveBrokerRequest{NodeId: 0})
	wantCode(t, "removing node id 0", err, codes.InvalidArgument)
	_, err = brokers[1].client.Admin.RemoveBroker(ctx, &runnelv1.RemoveBrokerRequest{NodeId: 1})
	wantCode(t, "removing an initial broker", err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "only brokers that joined") {
		t.Fatalf("removing an initial broker: %v, want a message saying which brokers can be removed", err)
	}

	resp, err := brokers[1].client.Admin.RemoveBroker(ctx, &runnelv1.RemoveBrokerRequest{NodeId: 4})
	if err != nil {
		t.Fatal(err)
	}
	if int(resp.Replicas) != onLeaving {
		t.Fatalf("RemoveBroker says broker 4 holds %d replicas, want %d", resp.Replicas, onLeaving)
	}
	// NB: through the broker that took the call, whose catalog has the
	// broker decommissioning.
	if _, err := brokers[1].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "during", Partitions: 4, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	for _, p := range describe(t, brokers[1], "during").Partitions {
		if slices.Contains(p.Replicas, 4) {
			t.Fatalf("topic during created while broker 4 is decommissioning: partition %d on %v", p.Partition, p.Replicas)
		}
	}
	_, err = brokers[1].client.Admin.ReassignPartition(ctx, &runnelv1.ReassignPartitionRequest{Topic: "during", Partition: 0, Replicas: []int32{4, 1, 2}})
	wantCode(t, "reassigning onto a decommissioning broker", err, codes.FailedPrecondition)

	sawDecommissioning := false
	i := 0
	waitFor(t, 60*time.Second, "broker 4 gone from the cluster", func() error {
		// Producers go on throughout, through the leaving broker too
		// while it serves.
		if err := produce(brokers[i%3], "before", int32(i%4), fmt.Sprintf("during-%d", i)); err != nil && status.Code(err) != codes.Unavailable {
			t.Fatalf("producing while broker 4 is decommissioned: %v", err)
		}
		i++
		c, err := brokers[2].client.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
		if err != nil {
			return err
		}
		var ids []int32
		for _, b := range c.Brokers {
			ids = append(ids, b.NodeId)
			if b.NodeId == 4 && b.Decommissioning {
				sawDecommissioning = true
			}
		}
		if !slices.Equal(ids, []int32{1, 2, 3}) {
			return fmt.Errorf("brokers %v", ids)
		}
		return nil
	})
	if !sawDecommissioning {
		t.Error("DescribeCluster never showed broker 4 decommissioning")
	}
	for _, b := range brokers {
		for _, topic := range []string{"before", "during"} {
			for _, p := range describe(t, b, topic).Partitions {
				if slices.Contains(p.Replicas, 4) || len(p.Replicas) != 3 || len(p.AddingReplicas)+len(p.RemovingReplicas) > 0 {
					t.Fatalf("topic %s partition %d: replicas %v adding %v removing %v", topic, p.Partition, p.Replicas, p.AddingReplicas, p.RemovingReplicas)
				}
			}
		}
	}
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "after", Partitions: 3, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	for _, p := range describe(t, brokers[0], "after").Partitions {
		if slices.Contains(p.Replicas, 4) {
			t.Fatalf("topic after: partition %d on %v", p.Partition, p.Replicas)
		}
	}
	for p := range int32(4) {
		waitFor(t, 10*time.Second, "a produce after the removal", func() error {
			return produce(brokers[0], "before", p, fmt.Sprintf("after-%d", p))
		})
	}
	leaving.stop()
	// NB: every acknowledged record; a produce that failed UNAVAILABLE
	// may have been appended too.
	for i, b := range brokers {
		waitFor(t, 30*time.Second, "every acknowledged record readable", func() error {
			got := readValues(t, b, "before")
			for _, v := range want {
				if !slices.Contains(got, v) {
					return fmt.Errorf("via broker %d: %q missing from %d records", i+1, v, len(got))
				}
			}
			return nil
		})
	}

	// The removed broker, restarted on its data directory, is refused.
	jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err = New(jctx, Config{DataDir: dir, Listen: "127.0.0.1:0", PeerListen: peerAddr, HTTPListen: "127.0.0.1:0", NodeID: 4,
		Join: seed, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "was removed from the cluster") {
		t.Fatalf("restarting the removed broker: %v, want FailedPrecondition saying it was removed", err)
	}
	_, err = New(jctx, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", PeerListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", NodeID: 4,
		Join: brokers[2].srv.PeerAddr().String(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "another node id") {
		t.Fatalf("joining under the removed broker's id: %v, want FailedPrecondition saying to pick another id", err)
	}
	_, err = brokers[0].client.Admin.RemoveBroker(ctx, &runnelv1.RemoveBrokerRequest{NodeId: 4})
	wantCode(t, "removing the removed broker again", err, codes.NotFound)
}

// TestRemoveBrokerRefused: in a cluster of three brokers with a topic of
// replication factor 3, removing one would leave the topic's partitions
// with nowhere to move a replica: refused, saying what to do, and nothing
// changes: the broker is not decommissioning and still takes replicas.
func TestRemoveBrokerRefused(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "full", Partitions: 2, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	_, err := brokers[1].client.Admin.RemoveBroker(ctx, &runnelv1.RemoveBrokerRequest{NodeId: 3})
	wantCode(t, "removing a broker every partition needs", err, codes.FailedPrecondition)
	if msg := status.Convert(err).Message(); !strings.HasPrefix(msg, "cannot remove broker 3: no broker to move a replica to: partition full-") ||
		!strings.Contains(msg, "add a broker first") || !strings.Contains(msg, "replication factor") {
		t.Fatalf("refusal: %v, want it to say to add a broker or lower the replication factor", err)
	}
	c, err := brokers[0].client.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Brokers) != 3 || slices.ContainsFunc(c.Brokers, func(b *runnelv1.Broker) bool { return b.Decommissioning }) {
		t.Fatalf("after a refused removal: brokers %v", c.Brokers)
	}
	if _, err := brokers[2].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "still", Partitions: 1, ReplicationFactor: 3}); err != nil {
		t.Fatalf("a topic of replication factor 3 after a refused removal: %v", err)
	}
}

// TestRemoveBrokerDown removes a joined broker that is already stopped,
// as when its machine is gone: the partitions it held move to the live
// brokers through the quorum left, and it leaves the cluster.
func TestRemoveBrokerDown(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	gone := startJoined(t, 4, brokers[0].srv.PeerAddr().String())
	waitFor(t, 30*time.Second, "broker 4 in the cluster", func() error {
		c, err := brokers[0].client.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
		if err != nil {
			return err
		}
		return is("brokers", len(c.Brokers), 4)
	})
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "t", Partitions: 4, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	gone.stop()
	resp, err := brokers[0].client.Admin.RemoveBroker(ctx, &runnelv1.RemoveBrokerRequest{NodeId: 4})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Replicas != 3 {
		t.Fatalf("RemoveBroker says broker 4 holds %d replicas, want 3 (4 partitions of 3 replicas over 4 brokers)", resp.Replicas)
	}
	waitFor(t, 60*time.Second, "broker 4 gone and its partitions on the others", func() error {
		c, err := brokers[1].client.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
		if err != nil {
			return err
		}
		if len(c.Brokers) != 3 {
			return fmt.Errorf("brokers %v", c.Brokers)
		}
		for _, p := range describe(t, brokers[1], "t").Partitions {
			if slices.Contains(p.Replicas, 4) || len(p.Replicas) != 3 || p.Leader == 0 {
				return fmt.Errorf("partition %d: replicas %v leader %d", p.Partition, p.Replicas, p.Leader)
			}
		}
		return nil
	})
	for p := range int32(4) {
		waitFor(t, 10*time.Second, "a produce to each partition", func() error {
			resp := brokers[2].produce(&runnelv1.ProduceRequest{Topic: "t", Partition: &p, Records: []*runnelv1.Record{{Value: []byte("v")}}})
			if resp.Error != nil {
				return status.ErrorProto(resp.Error)
			}
			return nil
		})
	}
}

// TestRemoveBrokerLast: a single broker, the last one, is not removed.
func TestRemoveBrokerLast(t *testing.T) {
	b := startBroker(t, "")
	_, err := b.client.Admin.RemoveBroker(context.Background(), &runnelv1.RemoveBrokerRequest{NodeId: 1})
	wantCode(t, "removing the last broker", err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "last broker") {
		t.Fatalf("removing the last broker: %v, want a message saying it is the last", err)
	}
}
