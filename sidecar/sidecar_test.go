package sidecar_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/partitioner"
)

func createTopic(t *testing.T, s *stubs, name string, partitions int32, config map[string]string) {
	t.Helper()
	if _, err := s.admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{Name: name, Partitions: partitions, Config: config}); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func keyed(key string, i int) *runnelv1.Record {
	return &runnelv1.Record{Key: []byte(key), Value: []byte(fmt.Sprintf("%s-%d", key, i))}
}

// checkOnce reads every partition of the topic from the broker and checks
// that each key's records are in its murmur2 partition, once each, in
// the order sent (value key-i for i = 0, 1, ...), n per key.
func checkOnce(t *testing.T, b *stubs, topic string, partitions int32, keys []string, n int) {
	t.Helper()
	next := map[string]int{}
	for p := range partitions {
		for _, r := range readAll(t, b, topic, p) {
			k := string(r.Key)
			if want := partitioner.ForKey(r.Key, partitions); want != p {
				t.Fatalf("key %q in partition %d, the broker's partitioner puts it in %d", k, p, want)
			}
			if want := fmt.Sprintf("%s-%d", k, next[k]); string(r.Value) != want {
				t.Fatalf("partition %d offset %d: %q, want %q (a record lost, repeated or reordered)", p, r.Offset, r.Value, want)
			}
			next[k]++
		}
	}
	for _, k := range keys {
		if next[k] != n {
			t.Fatalf("key %q: %d records in the cluster, want %d", k, next[k], n)
		}
	}
}

// TestKeyedRecordsLandWhereTheBrokerPutsThem: records produced through the
// sidecar, acked once spooled, reach the cluster once each, in each
// key's murmur2 partition, in order; an ACKS_ALL request is acked with
// the cluster's offsets.
func TestKeyedRecordsLandWhereTheBrokerPutsThem(t *testing.T) {
	b := startBroker(t)
	direct := dial(t, b.addr)
	createTopic(t, direct, "orders", 4, nil)
	sc := startSidecar(t, "", 64<<20, b.addr)
	app := dial(t, sc.Addr())

	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	var reqs []*runnelv1.ProduceRequest
	for i := range 50 {
		req := &runnelv1.ProduceRequest{Topic: "orders"}
		for _, k := range keys {
			req.Records = append(req.Records, keyed(k, i))
		}
		reqs = append(reqs, req)
	}
	for i, resp := range produce(t, app, reqs...) {
		if resp.Error != nil {
			t.Fatalf("request %d: %v", i, resp.Error)
		}
		n := int32(0)
		for _, a := range resp.Acks {
			if a.BaseOffset != -1 {
				t.Fatalf("request %d: a spooled ack with base offset %d, want -1 (not known yet)", i, a.BaseOffset)
			}
			n += a.RecordCount
		}
		if n != int32(len(keys)) {
			t.Fatalf("request %d: %d records acked, want %d", i, n, len(keys))
		}
	}
	waitFor(t, 30*time.Second, "the spool to drain", drained(sc))
	checkOnce(t, direct, "orders", 4, keys, 50)

	p := int32(2)
	resp := produce(t, app, &runnelv1.ProduceRequest{Topic: "orders", Partition: &p, Acks: runnelv1.Acks_ACKS_ALL,
		Records: []*runnelv1.Record{{Value: []byte("end to end")}}})[0]
	if resp.Error != nil || len(resp.Acks) != 1 || resp.Acks[0].BaseOffset < 0 {
		t.Fatalf("ACKS_ALL through the sidecar: %v", resp)
	}
	recs := readAll(t, direct, "orders", 2)
	if last := recs[len(recs)-1]; last.Offset != resp.Acks[0].BaseOffset || string(last.Value) != "end to end" {
		t.Fatalf("ACKS_ALL acked offset %d; the partition ends with %q at %d", resp.Acks[0].BaseOffset, last.Value, last.Offset)
	}
}

// TestSpoolsWhileTheClusterIsDown: with the broker stopped, produce goes
// on (acked from the spool), the status shows the backlog and why; the
// broker back, the backlog reaches it once, in order. A restart of the
// sidecar meanwhile keeps the backlog.
func TestSpoolsWhileTheClusterIsDown(t *testing.T) {
	b := startBroker(t)
	direct := dial(t, b.addr)
	createTopic(t, direct, "events", 3, nil)
	dir := t.TempDir()
	sc := startSidecar(t, dir, 64<<20, b.addr)
	app := dial(t, sc.Addr())
	keys := []string{"k1", "k2", "k3", "k4", "k5"}
	send := func(app *stubs, from, to int) {
		t.Helper()
		var reqs []*runnelv1.ProduceRequest
		for i := from; i < to; i++ {
			req := &runnelv1.ProduceRequest{Topic: "events"}
			for _, k := range keys {
				req.Records = append(req.Records, keyed(k, i))
			}
			reqs = append(reqs, req)
		}
		for i, resp := range produce(t, app, reqs...) {
			if resp.Error != nil {
				t.Fatalf("request %d: %v", from+i, resp.Error)
			}
		}
	}
	send(app, 0, 10)
	waitFor(t, 30*time.Second, "the spool to drain", drained(sc))

	b.stop()
	start := time.Now()
	send(app, 10, 40)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("30 requests took %s with the cluster down: the sidecar made the application wait", took)
	}
	st := sc.Status()
	if st.RecordsWaiting != 30*int64(len(keys)) {
		t.Fatalf("with the cluster down: %d records waiting, want %d", st.RecordsWaiting, 30*len(keys))
	}
	waitFor(t, 10*time.Second, "the status to say why", func() error {
		for _, p := range sc.Status().Partitions {
			if p.Waiting > 0 && p.LastError == "" {
				return fmt.Errorf("partition %d waits with no error shown", p.Partition)
			}
		}
		return nil
	})

	// The sidecar restarts with its backlog, the cluster still down.
	if err := sc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	sc = startSidecar(t, dir, 64<<20, b.addr)
	app = dial(t, sc.Addr())
	send(app, 40, 50)
	if got := sc.Status().RecordsWaiting; got != 40*int64(len(keys)) {
		t.Fatalf("after the sidecar's restart: %d records waiting, want %d", got, 40*len(keys))
	}

	b.start()
	waitFor(t, 60*time.Second, "the backlog to drain", drained(sc))
	checkOnce(t, direct, "events", 3, keys, 50)
}

// TestFullSpoolRefusesWithResourceExhausted: a spool that cannot take a
// request answers RESOURCE_EXHAUSTED saying so, takes nothing of it, and
// takes requests again once it has forwarded its backlog.
func TestFullSpoolRefusesWithResourceExhausted(t *testing.T) {
	b := startBroker(t)
	direct := dial(t, b.addr)
	createTopic(t, direct, "big", 1, map[string]string{"max.message.bytes": "200000"})
	sc := startSidecar(t, "", 2<<20, b.addr)
	app := dial(t, sc.Addr())
	p := int32(0)
	record := func(i int) *runnelv1.ProduceRequest {
		return &runnelv1.ProduceRequest{Topic: "big", Partition: &p, Records: []*runnelv1.Record{{Key: []byte("k"), Value: append([]byte(fmt.Sprintf("k-%d ", i)), make([]byte, 100_000)...)}}}
	}
	// The sidecar learns the topic, then the cluster goes.
	if r := produce(t, app, record(0))[0]; r.Error != nil {
		t.Fatal(r.Error)
	}
	waitFor(t, 30*time.Second, "the spool to drain", drained(sc))
	b.stop()
	acked := 1
	for ; ; acked++ {
		resp := produce(t, app, record(acked))[0]
		if resp.Error != nil {
			if codes.Code(resp.Error.Code) != codes.ResourceExhausted || !strings.Contains(resp.Error.Message, "spool is full") {
				t.Fatalf("the request past the spool: %v, want RESOURCE_EXHAUSTED saying the spool is full", resp.Error)
			}
			break
		}
		if acked > 40 {
			t.Fatal("a 2 MiB spool took 4 MiB")
		}
	}
	waiting := sc.Status().RecordsWaiting
	if waiting != int64(acked-1) {
		t.Fatalf("%d records waiting, %d acked while the cluster was down", waiting, acked-1)
	}
	b.start()
	waitFor(t, 60*time.Second, "the backlog to drain", drained(sc))
	if r := produce(t, app, record(acked))[0]; r.Error != nil {
		t.Fatalf("once drained: %v", r.Error)
	}
	waitFor(t, 30*time.Second, "the spool to drain", drained(sc))
	recs := readAll(t, direct, "big", 0)
	if len(recs) != acked+1 {
		t.Fatalf("%d records in the cluster, %d acked", len(recs), acked+1)
	}
	for i, r := range recs {
		if !strings.HasPrefix(string(r.Value), fmt.Sprintf("k-%d ", i)) {
			t.Fatalf("record %d is %.10q", i, r.Value)
		}
	}
}

// TestBadInputGetsTheBrokersStatus: what a broker refuses, the sidecar
// refuses before acking, with the same code.
func TestBadInputGetsTheBrokersStatus(t *testing.T) {
	b := startBroker(t)
	direct := dial(t, b.addr)
	createTopic(t, direct, "small", 2, map[string]string{"max.message.bytes": "1000"})
	sc := startSidecar(t, "", 64<<20, b.addr)
	app := dial(t, sc.Addr())
	p5, p0 := int32(5), int32(0)
	for _, tc := range []struct {
		name string
		req  *runnelv1.ProduceRequest
		code codes.Code
		says string
	}{
		{"no topic", &runnelv1.ProduceRequest{Records: []*runnelv1.Record{{Value: []byte("x")}}}, codes.InvalidArgument, "topic is empty"},
		{"unknown topic", &runnelv1.ProduceRequest{Topic: "nope", Records: []*runnelv1.Record{{Value: []byte("x")}}}, codes.NotFound, "nope"},
		{"no records", &runnelv1.ProduceRequest{Topic: "small"}, codes.InvalidArgument, "at least one record"},
		{"no such partition", &runnelv1.ProduceRequest{Topic: "small", Partition: &p5, Records: []*runnelv1.Record{{Value: []byte("x")}}}, codes.InvalidArgument, "has 2 partitions"},
		{"too large", &runnelv1.ProduceRequest{Topic: "small", Partition: &p0, Records: []*runnelv1.Record{{Value: make([]byte, 2000)}}}, codes.InvalidArgument, "max.message.bytes"},
		{"producer id without partition", &runnelv1.ProduceRequest{Topic: "small", ProducerId: 1, Records: []*runnelv1.Record{{Value: []byte("x")}}}, codes.InvalidArgument, "need partition"},
		{"unknown producer at sequence 3", &runnelv1.ProduceRequest{Topic: "small", Partition: &p0, ProducerId: 77, BaseSequence: 3, Records: []*runnelv1.Record{{Value: []byte("x")}}}, codes.FailedPrecondition, "sequence"},
	} {
		resp := produce(t, app, tc.req)[0]
		if resp.Error == nil || codes.Code(resp.Error.Code) != tc.code || !strings.Contains(resp.Error.Message, tc.says) {
			t.Errorf("%s: %v, want %v saying %q", tc.name, resp.Error, tc.code, tc.says)
		}
	}
	if got := sc.Status().RecordsWaiting; got != 0 {
		t.Fatalf("refused requests spooled %d records", got)
	}
	err := app.conn.Invoke(context.Background(), "/some.Other/Call", &runnelv1.ListTopicsRequest{}, &runnelv1.ListTopicsResponse{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("an unknown service: %v, want UNIMPLEMENTED", err)
	}
}

// TestRelaysTheRestToTheCluster: admin, subscribe and commit calls reach
// the cluster; descriptions show the sidecar as its broker; health is
// the sidecar's; an upstream broker that is down is skipped.
func TestRelaysTheRestToTheCluster(t *testing.T) {
	b := startBroker(t)
	// NB: the first upstream address is refused: calls go to the next.
	sc := startSidecar(t, "", 64<<20, "127.0.0.1:1", b.addr)
	app := dial(t, sc.Addr())
	ctx := context.Background()
	createTopic(t, app, "relayed", 2, nil)
	cl, err := app.admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Brokers) != 1 || cl.Brokers[0].Address != sc.Addr() || cl.ClusterId == "" {
		t.Fatalf("DescribeCluster through the sidecar: %v, want the sidecar as the only broker", cl)
	}
	tp, err := app.admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "relayed"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tp.Partitions {
		if p.Leader != cl.Brokers[0].NodeId || p.LeaderEpoch != 0 {
			t.Fatalf("partition %d: leader %d epoch %d, want the sidecar's %d, epoch 0", p.Partition, p.Leader, p.LeaderEpoch, cl.Brokers[0].NodeId)
		}
	}
	if _, err := app.admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "missing"}); status.Code(err) != codes.NotFound {
		t.Fatalf("DescribeTopic of a missing topic: %v, want NOT_FOUND", err)
	}
	p := int32(1)
	if r := produce(t, app, &runnelv1.ProduceRequest{Topic: "relayed", Partition: &p, Acks: runnelv1.Acks_ACKS_ALL,
		Records: []*runnelv1.Record{{Value: []byte("one")}, {Value: []byte("two")}}})[0]; r.Error != nil {
		t.Fatal(r.Error)
	}
	recs := readAll(t, app, "relayed", 1)
	if len(recs) != 2 || string(recs[1].Value) != "two" {
		t.Fatalf("subscribe through the sidecar: %v", recs)
	}
	if _, err := app.commit.Commit(ctx, &runnelv1.CommitRequest{Group: "g", Topic: "relayed", Offsets: []*runnelv1.PartitionOffset{{Partition: 1, Offset: 2}}}); err != nil {
		t.Fatal(err)
	}
	got, err := dial(t, b.addr).commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: "g", Topic: "relayed"})
	if err != nil || len(got.Offsets) != 1 || got.Offsets[0].Offset != 2 {
		t.Fatalf("the commit made through the sidecar, at the broker: %v %v", got, err)
	}
	h, err := healthpb.NewHealthClient(app.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	b.stop()
	if _, err := app.admin.ListTopics(ctx, &runnelv1.ListTopicsRequest{}); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "no upstream broker") {
		t.Fatalf("an admin call with every upstream broker down: %v, want UNAVAILABLE saying so", err)
	}
	// An SDK refreshing its metadata meanwhile still learns where to
	// produce: the sidecar answers from what it knows.
	cached, err := app.admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
	if err != nil || cached.ClusterId != cl.ClusterId || len(cached.Brokers) != 1 || cached.Brokers[0].Address != sc.Addr() {
		t.Fatalf("DescribeCluster with the cluster down: %v %v, want the sidecar in cluster %s", cached, err, cl.ClusterId)
	}
	tc, err := app.admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "relayed"})
	if err != nil || tc.Topic.Partitions != 2 || len(tc.Partitions) != 2 || tc.Partitions[1].Leader != cached.Brokers[0].NodeId {
		t.Fatalf("DescribeTopic with the cluster down: %v %v, want its 2 partitions led by the sidecar", tc, err)
	}
	if _, err := app.admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "never-seen"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("DescribeTopic of a topic the sidecar never saw, with the cluster down: %v, want UNAVAILABLE", err)
	}
	h, err = healthpb.NewHealthClient(app.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health with the cluster down: %v %v, want SERVING (the sidecar takes records)", h, err)
	}
}
