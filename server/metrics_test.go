package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// scrape reads a broker's /metrics: every sample by its series as
// Prometheus prints it (name, then labels sorted by name).
func scrape(t *testing.T, b *testBroker) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + b.srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// grpcMetric sums a gRPC server counter's series for one method (both
// gRPC servers', the client and the peer one) from a broker's /metrics.
func grpcMetric(t *testing.T, b *testBroker, name, method string) int {
	t.Helper()
	n := 0.0
	for series, v := range scrape(t, b) {
		if strings.HasPrefix(series, name+"{") && strings.Contains(series, fmt.Sprintf("grpc_method=%q", method)) {
			n += v
		}
	}
	return int(n)
}

// TestMetrics: after a produce and a read, /metrics of a single broker
// with one topic shows the partition, raft, storage, produce, consume
// and cluster series docs/metrics.md lists, with the values the calls
// imply.
func TestMetrics(t *testing.T) {
	b := startBroker(t, t.TempDir())
	b.createTopic("orders", 2, nil)
	p := int32(1)
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "orders", Partition: &p, Records: records("a", "bb", "ccc")}))
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "orders", Partition: &p, Acks: runnelv1.Acks_ACKS_LEADER, Records: records("d")}))
	// NB: a record acked with ACKS_LEADER is readable once the high
	// watermark passes it, which may be just after its ack.
	waitFor(t, 10*time.Second, "the high watermark to pass the last record", func() error {
		d, err := b.client.Admin.DescribeTopic(context.Background(), &runnelv1.DescribeTopicRequest{Name: "orders"})
		if err != nil {
			return err
		}
		return is("partition 1's high watermark", d.Partitions[1].HighWatermark, int64(4))
	})
	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "orders"})
	if err != nil || len(got[1]) != 4 {
		t.Fatalf("read back %v, %v", got, err)
	}
	m := scrape(t, b)
	exactly := map[string]float64{
		`runnel_partition_high_watermark{partition="1",topic="orders"}`:   4,
		`runnel_partition_high_watermark{partition="0",topic="orders"}`:   0,
		`runnel_partition_log_start_offset{partition="1",topic="orders"}`: 0,
		`runnel_partition_is_leader{partition="1",topic="orders"}`:        1,
		`runnel_partition_leader{partition="1",topic="orders"}`:           1,
		`runnel_partition_replicas{partition="1",topic="orders"}`:         1,
		`runnel_partition_in_sync_replicas{partition="1",topic="orders"}`: 1,
		`runnel_partition_under_replicated{partition="1",topic="orders"}`: 0,
		`runnel_under_replicated_partitions`:                              0,
		`runnel_partitions{role="failed"}`:                                0,
		`runnel_partitions{role="leaderless"}`:                            0,
		`runnel_produced_records_total{topic="orders"}`:                   4,
		`runnel_consumed_records_total{topic="orders"}`:                   4,
		`runnel_produce_ack_seconds_count{acks="all"}`:                    1,
		`runnel_produce_ack_seconds_count{acks="leader"}`:                 1,
		`runnel_controller`:                           1,
		`runnel_cluster_brokers{state="online"}`:      1,
		`runnel_cluster_brokers{state="unreachable"}`: 0,
		`runnel_raft_proposals_in_flight`:             0,
	}
	for series, want := range exactly {
		if v, ok := m[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	atLeast := map[string]float64{
		`runnel_partition_size_bytes{partition="1",topic="orders"}`:   1,
		`runnel_partition_leader_epoch{partition="1",topic="orders"}`: 1,
		// the 2 topic partitions, the metadata and the offsets partitions
		`runnel_partitions{role="leader"}`:                      4,
		`runnel_produced_bytes_total{topic="orders"}`:           1,
		`runnel_consumed_bytes_total{topic="orders"}`:           1,
		`runnel_storage_fsync_seconds_count`:                    1,
		`runnel_storage_sync_round_requests_count`:              1,
		`runnel_raft_commit_seconds_count{durability="quorum"}`: 1,
		`runnel_raft_commit_seconds_count{durability="leader"}`: 1,
		`runnel_raft_leader_changes_total`:                      4,
		`runnel_storage_mapped_sealed_segments`:                 0,
	}
	for series, least := range atLeast {
		if v, ok := m[series]; !ok || v < least {
			t.Errorf("%s = %v (present %v), want at least %v", series, v, ok, least)
		}
	}
}

// TestDashboardQueriesExist: every metric the Grafana dashboard in
// deploy/ queries is one a running broker serves, so that a renamed
// metric cannot leave a panel empty.
func TestDashboardQueriesExist(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/runnel.json")
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	walk(dash)
	if len(exprs) < 10 {
		t.Fatalf("the dashboard has %d queries; it should draw on the broker's series", len(exprs))
	}
	b := startBroker(t, t.TempDir())
	b.createTopic("orders", 1, nil)
	p := int32(0)
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "orders", Partition: &p, Records: records("a")}))
	if _, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "orders"}); err != nil {
		t.Fatal(err)
	}
	// A group member that committed: the group series.
	m := b.join(&runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true})
	m.until("the member read the record", func() bool { return m.at(0) == 1 })
	if err := m.commit("orders", 0); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for series := range scrape(t, b) {
		name, _, _ := strings.Cut(series, "{")
		served[name] = true
	}
	// NB: label matchers and grouping clauses name labels, not metrics.
	labels := regexp.MustCompile(`\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)`)
	metricName := regexp.MustCompile(`\b((?:runnel|grpc|go|process)_[a-z0-9_]+)`)
	for _, e := range exprs {
		for _, m := range metricName.FindAllStringSubmatch(labels.ReplaceAllString(e, " "), -1) {
			if !served[m[1]] {
				t.Errorf("the dashboard queries %s (in %q), which /metrics does not serve", m[1], e)
			}
		}
	}
}

// TestClusterMetrics: in three brokers, the controller counts three online,
// each partition has one leader reporting it in sync, the others follow,
// and a produce through a follower counts as forwarded there and as
// produced once, where the producer called.
func TestClusterMetrics(t *testing.T) {
	brokers := startCluster(t, 3)
	if _, err := brokers[0].client.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{Name: "m", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var leader int32
	waitFor(t, 30*time.Second, "a leader for m", func() error {
		if leader = describe(t, brokers[0], "m").Partitions[0].Leader; leader == 0 {
			return errors.New("no leader")
		}
		return nil
	})
	follower := brokers[leader%3]
	p := int32(0)
	mustAck(t, follower.produce(&runnelv1.ProduceRequest{Topic: "m", Partition: &p, Records: records("x", "y")}))
	waitFor(t, 30*time.Second, "every replica at the high watermark and three brokers online", func() error {
		controllers, online := 0, 0.0
		for _, b := range brokers {
			m := scrape(t, b)
			if hw := m[`runnel_partition_high_watermark{partition="0",topic="m"}`]; hw != 2 {
				return fmt.Errorf("broker %d: high watermark %v", b.cfg.NodeID, hw)
			}
			if m[`runnel_controller`] == 1 {
				controllers++
				online = m[`runnel_cluster_brokers{state="online"}`]
			}
			isLeader := m[`runnel_partition_is_leader{partition="0",topic="m"}`] == 1
			if isLeader != (b.cfg.NodeID == leader) {
				return fmt.Errorf("broker %d: is_leader %v, the leader is %d", b.cfg.NodeID, isLeader, leader)
			}
			if isLeader && m[`runnel_partition_in_sync_replicas{partition="0",topic="m"}`] != 3 {
				return fmt.Errorf("broker %d: in sync %v", b.cfg.NodeID, m[`runnel_partition_in_sync_replicas{partition="0",topic="m"}`])
			}
		}
		if controllers != 1 || online != 3 {
			return fmt.Errorf("%d controllers, %v brokers online", controllers, online)
		}
		return nil
	})
	produced := 0.0
	for _, b := range brokers {
		produced += scrape(t, b)[`runnel_produced_records_total{topic="m"}`]
	}
	if fm := scrape(t, follower); produced != 2 || fm[`runnel_forwarded_calls_total{call="produce"}`] != 1 || fm[`runnel_produced_records_total{topic="m"}`] != 2 {
		t.Fatalf("produced %v across the cluster (want 2, counted once), the follower forwarded %v (want 1)", produced, fm[`runnel_forwarded_calls_total{call="produce"}`])
	}
}

// TestDeletedTopicMetricsGo: once a topic is deleted, no broker of the
// cluster serves a series of it, neither the broker that took the
// DeleteTopic call nor those that counted its records (the one a
// producer reached, which forwarded to the leader, and the one a
// consumer read from), which learn of the deletion from the metadata
// log.
func TestDeletedTopicMetricsGo(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "gone", Partitions: 2, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	// kept is another topic, whose series stay.
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "kept", Partitions: 1, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	var leader int32
	waitFor(t, 30*time.Second, "a leader for gone-0", func() error {
		if leader = describe(t, brokers[0], "gone").Partitions[0].Leader; leader == 0 {
			return errors.New("no leader")
		}
		return nil
	})
	producer, consumer, deleter := brokers[leader%3], brokers[(leader+1)%3], brokers[leader-1]
	p := int32(0)
	mustAck(t, producer.produce(&runnelv1.ProduceRequest{Topic: "gone", Partition: &p, Records: records("x", "y")}))
	mustAck(t, producer.produce(&runnelv1.ProduceRequest{Topic: "kept", Partition: &p, Records: records("z")}))
	waitFor(t, 30*time.Second, "the consumer's broker to serve both records of gone", func() error {
		got, err := consumer.readAll(&runnelv1.SubscribeRequest{Topic: "gone"})
		if err != nil {
			return err
		}
		return is("records read", len(got[0]), 2)
	})
	gone := func(b *testBroker) []string {
		var out []string
		for series := range scrape(t, b) {
			if strings.Contains(series, `topic="gone"`) {
				out = append(out, series)
			}
		}
		return out
	}
	// NB: the series must be there first, or their absence proves nothing.
	for _, want := range []struct {
		b      *testBroker
		series string
	}{
		{producer, `runnel_produced_records_total{topic="gone"}`},
		{producer, `runnel_produced_bytes_total{topic="gone"}`},
		{consumer, `runnel_consumed_records_total{topic="gone"}`},
		{consumer, `runnel_consumed_bytes_total{topic="gone"}`},
		{deleter, `runnel_partition_high_watermark{partition="1",topic="gone"}`},
	} {
		if _, ok := scrape(t, want.b)[want.series]; !ok {
			t.Fatalf("broker %d serves no %s before the deletion", want.b.cfg.NodeID, want.series)
		}
	}
	if _, err := deleter.client.Admin.DeleteTopic(ctx, &runnelv1.DeleteTopicRequest{Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	for _, b := range brokers {
		waitFor(t, 30*time.Second, fmt.Sprintf("broker %d to serve no series of the deleted topic", b.cfg.NodeID), func() error {
			if left := gone(b); len(left) > 0 {
				return fmt.Errorf("it serves %v", left)
			}
			return nil
		})
	}
	if v := scrape(t, producer)[`runnel_produced_records_total{topic="kept"}`]; v != 1 {
		t.Fatalf("runnel_produced_records_total{topic=\"kept\"} = %v after another topic's deletion, want 1", v)
	}
}

// TestGroupMetrics: a group's members, rebalances and lag, and the
// commits refused for fencing, are on /metrics.
func TestGroupMetrics(t *testing.T) {
	b := startBroker(t, t.TempDir())
	b.createTopic("orders", 2, nil)
	b.producePerPartition("orders", 2, 3)
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true}
	a := b.join(sub)
	a.until("a read everything", func() bool { return a.at(0) == 3 && a.at(1) == 3 })
	a.next["orders"][0] = 1 // commit less than it read of partition 0
	if err := a.commit("orders", 0, 1); err != nil {
		t.Fatal(err)
	}
	c := b.join(sub)
	c.until("c's first assignment", func() bool { return c.assignment != nil })
	c.next["orders"] = map[int32]int64{0: 2} // NB: not the committed 1, which would be a no-op
	err := c.commit("orders", 0)
	wantCode(t, "c's commit of a partition it does not own", err, codes.FailedPrecondition)
	waitFor(t, 10*time.Second, "the group series", func() error {
		m := scrape(t, b)
		for series, want := range map[string]float64{
			`runnel_group_members{group="g"}`:                          2,
			`runnel_group_rebalances_total{group="g"}`:                 2,
			`runnel_group_lag{group="g",partition="0",topic="orders"}`: 2,
			`runnel_group_lag{group="g",partition="1",topic="orders"}`: 0,
			`runnel_group_fenced_commits_total`:                        1,
		} {
			if v, ok := m[series]; !ok || v != want {
				return fmt.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
			}
		}
		return nil
	})
}
