package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/buildinfo"
	"github.com/runnel-broker/runnel/server/internal/peer"
)

// startCluster starts n servers forming one static cluster on loopback.
func startCluster(t *testing.T, n int) []*testBroker {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// startClusterWith starts n servers as startCluster does, each Config
// adjusted by change (nil: none).
func startClusterWith(t *testing.T, n int, change func(*Config)) []*testBroker {
	t.Helper()
	peers := map[int32]string{}
	// NB: bound here and handed over, so that no other test takes a
	// port between choosing it and binding it: the peer listeners, whose
	// addresses every broker's Peers lists, and the others alike.
	listeners := make([][3]net.Listener, n) // client, peer, HTTP
	for i := range n {
		for k := range listeners[i] {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			listeners[i][k] = lis
		}
		peers[int32(i+1)] = listeners[i][1].Addr().String()
	}
	brokers := make([]*testBroker, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		// NB: side by side: each waits for a quorum of the others.
		wg.Go(func() {
			b := &testBroker{t: t, cfg: Config{
				DataDir:      t.TempDir(),
				Listen:       listeners[i][0].Addr().String(),
				PeerListen:   peers[int32(i+1)],
				HTTPListen:   listeners[i][2].Addr().String(),
				Listener:     listeners[i][0],
				PeerListener: listeners[i][1],
				HTTPListener: listeners[i][2],
				NodeID:       int32(i + 1),
				Peers:        peers,
				Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
			}}
			if change != nil {
				change(&b.cfg)
			}
			b.dir = b.cfg.DataDir
			errs[i] = b.start()
			brokers[i] = b
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("broker %d: %v", i+1, err)
		}
	}
	for _, b := range brokers {
		t.Cleanup(b.stop)
	}
	return brokers
}

// start starts b (again) with its cluster configuration.
func (b *testBroker) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := New(ctx, b.cfg)
	// NB: the first listeners are closed now. A restart binds the peer
	// address again, which the other brokers' Peers name (only a process
	// that took the port meanwhile could fail it, loudly); the client and
	// HTTP listeners take new ports.
	b.cfg.Listener, b.cfg.PeerListener, b.cfg.HTTPListener = nil, nil, nil
	b.cfg.Listen, b.cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	if err != nil {
		return err
	}
	b.srv, b.served = srv, make(chan error, 1)
	go func() { b.served <- srv.Serve() }()
	b.client, err = client.Dial(srv.Addr().String())
	return err
}

func describe(t *testing.T, b *testBroker, topic string) *runnelv1.DescribeTopicResponse {
	t.Helper()
	resp, err := b.client.Admin.DescribeTopic(context.Background(), &runnelv1.DescribeTopicRequest{Name: topic})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestClusterForwardsToReplicas puts a one-replica partition on one
// broker and produces and subscribes through each of the others: they
// forward to it, and the records read back through every broker.
func TestClusterForwardsToReplicas(t *testing.T) {
	brokers := startCluster(t, 3)
	_, err := brokers[0].client.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{
		Name: "single", Partitions: 1, ReplicationFactor: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	owner := describe(t, brokers[0], "single").Partitions[0].Replicas[0]
	var want []string
	for i, b := range brokers {
		p := int32(0)
		v := fmt.Sprintf("via %d", i+1)
		resp := b.produce(&runnelv1.ProduceRequest{Topic: "single", Partition: &p,
			Records: []*runnelv1.Record{{Value: []byte(v)}}, Acks: runnelv1.Acks_ACKS_ALL})
		if resp.Error != nil {
			t.Fatalf("produce via broker %d (replica on %d): %v", i+1, owner, resp.Error)
		}
		if resp.Acks[0].BaseOffset != int64(i) {
			t.Fatalf("produce via broker %d acked offset %d, want %d", i+1, resp.Acks[0].BaseOffset, i)
		}
		want = append(want, v)
	}
	for i, b := range brokers {
		if got := readValues(t, b, "single"); !slices.Equal(got, want) {
			t.Errorf("read via broker %d: %q, want %q", i+1, got, want)
		}
		d := describe(t, b, "single").Partitions[0]
		if d.Leader != owner || !slices.Equal(d.InSyncReplicas, []int32{owner}) || d.HighWatermark != 3 {
			t.Errorf("describe via broker %d: leader %d in sync %v hw %d; want %d [%d] 3",
				i+1, d.Leader, d.InSyncReplicas, d.HighWatermark, owner, owner)
		}
	}
}

func readValues(t *testing.T, b *testBroker, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := b.client.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Batch.Records {
			out = append(out, string(r.Value))
		}
	}
}

// TestClusterDescribe checks what a replicated topic and the cluster look
// like from every broker, before and after one broker stops: leaders
// spread, every replica in sync, the stopped broker unreachable and out
// of sync, and a partition that lost its only replica answering
// UNAVAILABLE.
func TestClusterDescribe(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[1].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "r3", Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := brokers[1].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "r1", Partitions: 3, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every replica of r3 in sync, preferred leaders leading", func() error {
		for i, b := range brokers {
			for _, p := range describe(t, b, "r3").Partitions {
				if len(p.Replicas) != 3 || p.Leader != p.Replicas[0] || len(p.InSyncReplicas) != 3 {
					return fmt.Errorf("via broker %d partition %d: replicas %v leader %d in sync %v",
						i+1, p.Partition, p.Replicas, p.Leader, p.InSyncReplicas)
				}
			}
		}
		return nil
	})
	leaders := map[int32]bool{}
	for _, p := range describe(t, brokers[0], "r3").Partitions {
		leaders[p.Leader] = true
	}
	if len(leaders) != 3 {
		t.Errorf("the 3 partitions of r3 have leaders %v: want one on each broker", leaders)
	}

	stopped := brokers[2]
	stopped.stop()
	live := brokers[:2]
	waitFor(t, 30*time.Second, "broker 3 unreachable and out of sync", func() error {
		for i, b := range live {
			c, err := b.client.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
			if err != nil {
				return err
			}
			for _, m := range c.Brokers {
				want := runnelv1.BrokerState_BROKER_STATE_ONLINE
				if m.NodeId == 3 {
					want = runnelv1.BrokerState_BROKER_STATE_UNREACHABLE
				}
				if m.State != want {
					return fmt.Errorf("via broker %d: broker %d is %v", i+1, m.NodeId, m.State)
				}
			}
			for _, p := range describe(t, b, "r3").Partitions {
				if p.Leader == 0 || p.Leader == 3 || slices.Contains(p.InSyncReplicas, 3) || len(p.InSyncReplicas) != 2 {
					return fmt.Errorf("via broker %d partition %d: leader %d in sync %v", i+1, p.Partition, p.Leader, p.InSyncReplicas)
				}
			}
		}
		return nil
	})

	// r1's partition on broker 3 has no replica left.
	var lost int32 = -1
	for _, p := range describe(t, live[0], "r1").Partitions {
		if p.Replicas[0] == 3 {
			lost = p.Partition
		}
	}
	resp := live[0].produce(&runnelv1.ProduceRequest{Topic: "r1", Partition: &lost, Records: []*runnelv1.Record{{Value: []byte("x")}}})
	if resp.Error == nil || codes.Code(resp.Error.Code) != codes.Unavailable ||
		!strings.Contains(resp.Error.Message, "not replicated on this broker") {
		t.Fatalf("produce to a partition whose only replica is down: %v, want UNAVAILABLE saying why", resp.Error)
	}
}

// TestFollowerForwardsProduceToLeader produces through a follower of a
// replicated partition: the follower hands the requests to the leader's
// Produce service (its gRPC metrics count them) rather than proposing
// them through raft, where the ack would wait for the follower to apply.
func TestFollowerForwardsProduceToLeader(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "fwd", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var leader int32
	waitFor(t, 30*time.Second, "a leader for fwd", func() error {
		leader = describe(t, brokers[0], "fwd").Partitions[0].Leader
		if leader == 0 {
			return errors.New("no leader")
		}
		return nil
	})
	follower := brokers[leader%3]
	before := produceMessagesReceived(t, brokers[leader-1])
	p := int32(0)
	const n = 5
	var reqs []*runnelv1.ProduceRequest
	for i := range n {
		reqs = append(reqs, &runnelv1.ProduceRequest{Topic: "fwd", Partition: &p, CorrelationId: uint64(i),
			Records: []*runnelv1.Record{{Value: fmt.Appendf(nil, "r%d", i)}}})
	}
	for i, resp := range follower.produceAll(reqs...) {
		if resp.Error != nil || resp.Acks[0].BaseOffset != int64(i) {
			t.Fatalf("request %d via a follower: acks %v, error %v; want offset %d", i, resp.Acks, resp.Error, i)
		}
	}
	if got := produceMessagesReceived(t, brokers[leader-1]) - before; got != n {
		t.Fatalf("the leader's Produce service received %d requests while %d were produced via a follower", got, n)
	}
}

// produceMessagesReceived reads how many Produce requests a broker's gRPC
// server has received, from its /metrics.
func produceMessagesReceived(t *testing.T, b *testBroker) int {
	t.Helper()
	return grpcMetric(t, b, "grpc_server_msg_received_total", "Produce")
}

// TestShutdownDeliversAcksInFlight stops the leader of a replicated
// partition while a producer pipelines requests to it: graceful shutdown
// hands the leadership off and then answers every request it took with
// an ack, or with UNAVAILABLE for one it did not append, before the
// stream ends; every acknowledged record is readable on the others.
func TestShutdownDeliversAcksInFlight(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "inflight", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var leader int32
	waitFor(t, 30*time.Second, "a leader for inflight", func() error {
		leader = describe(t, brokers[0], "inflight").Partitions[0].Leader
		if leader == 0 {
			return errors.New("no leader")
		}
		return nil
	})
	lb := brokers[leader-1]
	// NB: a client of its own: stopping a test broker closes its client.
	producer, err := client.Dial(lb.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	stream, err := producer.Produce.Produce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := int32(0)
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < 5000; n++ {
			req := &runnelv1.ProduceRequest{Topic: "inflight", Partition: &p, CorrelationId: uint64(n),
				Records: []*runnelv1.Record{{Value: fmt.Appendf(nil, "v%d", n)}}}
			if stream.Send(req) != nil {
				break
			}
		}
		sent <- n
	}()
	var acked []string
	answered := map[uint64]bool{}
	stopped := make(chan struct{})
	var end error
	for {
		resp, err := stream.Recv()
		if err != nil {
			end = err
			break
		}
		answered[resp.CorrelationId] = true
		switch {
		case resp.Error == nil:
			acked = append(acked, fmt.Sprintf("v%d", resp.CorrelationId))
		case codes.Code(resp.Error.Code) != codes.Unavailable:
			t.Errorf("request %d: %v, want an ack or UNAVAILABLE", resp.CorrelationId, resp.Error)
		}
		if len(answered) == 50 {
			go func() { lb.stop(); close(stopped) }()
		}
	}
	<-stopped
	n := <-sent
	if len(acked) < 50 {
		t.Fatalf("%d acks of %d requests sent", len(acked), n)
	}
	// Every request the broker took before it stopped taking them got
	// its answer: the answered ones are a prefix of those sent.
	for id := range uint64(len(answered)) {
		if !answered[id] {
			t.Fatalf("request %d got no answer though %d later ones did", id, len(answered))
		}
	}
	if status.Code(end) != codes.Unavailable || !strings.Contains(end.Error(), "not answered were not appended") {
		t.Fatalf("the stream ended with %v, want UNAVAILABLE saying the unanswered requests were not appended", end)
	}
	other := brokers[leader%3]
	var got []string
	waitFor(t, 30*time.Second, "acknowledged records readable on another broker", func() error {
		got = readValues(t, other, "inflight")
		for _, v := range acked {
			if !slices.Contains(got, v) {
				return fmt.Errorf("acknowledged %s missing from %d records read", v, len(got))
			}
		}
		return nil
	})
	// The stream's end promised that the requests it left unanswered were
	// not appended: the broker answered every one it took.
	for _, v := range got {
		var id uint64
		if _, err := fmt.Sscanf(v, "v%d", &id); err != nil {
			t.Fatal(err)
		}
		if !answered[id] {
			t.Errorf("request %d was never answered, yet its record %s is in the log", id, v)
		}
	}
	t.Logf("%d requests sent, %d answered, %d acknowledged, %d in the log", n, len(answered), len(acked), len(got))
}

// TestReassignPartition moves a one-replica partition off its broker onto
// the two others while a producer writes through a third party: the
// leader hands over, nothing acknowledged is lost or moves offset, and
// DescribeTopic shows the move going and then done.
func TestReassignPartition(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "moving", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	owner := describe(t, brokers[0], "moving").Partitions[0].Replicas[0]
	var target []int32
	for id := int32(1); id <= 3; id++ {
		if id != owner {
			target = append(target, id)
		}
	}
	via := brokers[target[1]-1] // a broker the partition is moving to
	p := int32(0)
	produce := func(v string) (int64, error) {
		resp := via.produce(&runnelv1.ProduceRequest{Topic: "moving", Partition: &p, Records: []*runnelv1.Record{{Value: []byte(v)}}})
		if resp.Error != nil {
			return 0, status.ErrorProto(resp.Error)
		}
		return resp.Acks[0].BaseOffset, nil
	}
	acked := map[int64]string{}
	for i := range 20 {
		v := fmt.Sprintf("before-%d", i)
		off, err := produce(v)
		if err != nil {
			t.Fatal(err)
		}
		acked[off] = v
	}

	stop := make(chan struct{})
	producing := make(chan error, 1)
	var mu sync.Mutex
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				producing <- nil
				return
			default:
			}
			v := fmt.Sprintf("during-%d", i)
			off, err := produce(v)
			if status.Code(err) == codes.Unavailable {
				time.Sleep(20 * time.Millisecond)
				continue // a leader change: retry
			}
			if err != nil {
				producing <- err
				return
			}
			mu.Lock()
			acked[off] = v
			mu.Unlock()
		}
	}()

	removed := filepath.Join(brokers[owner-1].srv.cfg.DataDir, "moving-0")
	if _, err := os.Stat(removed); err != nil {
		t.Fatalf("the owner's copy: %v", err)
	}
	if _, err := brokers[0].client.Admin.ReassignPartition(ctx, &runnelv1.ReassignPartitionRequest{Topic: "moving", Partition: 0, Replicas: target}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the partition on its new replicas", func() error {
		for i, b := range brokers {
			d := describe(t, b, "moving").Partitions[0]
			if !slices.Equal(d.Replicas, target) || len(d.AddingReplicas)+len(d.RemovingReplicas) > 0 ||
				!slices.Contains(target, d.Leader) || len(d.InSyncReplicas) != 2 {
				return fmt.Errorf("via broker %d: replicas %v adding %v removing %v leader %d in sync %v",
					i+1, d.Replicas, d.AddingReplicas, d.RemovingReplicas, d.Leader, d.InSyncReplicas)
			}
		}
		return nil
	})
	close(stop)
	if err := <-producing; err != nil {
		t.Fatalf("producing during the move: %v", err)
	}
	waitFor(t, 30*time.Second, "the old replica's copy deleted", func() error {
		if _, err := os.Stat(removed); !os.IsNotExist(err) {
			return fmt.Errorf("%s: %v", removed, err)
		}
		return nil
	})
	off, err := produce("after")
	if err != nil {
		t.Fatal(err)
	}
	acked[off] = "after"

	for i, b := range brokers {
		got := readValues(t, b, "moving")
		for o, v := range acked {
			if o >= int64(len(got)) || got[o] != v {
				t.Fatalf("via broker %d: offset %d holds %q of %d records, acknowledged as %q", i+1, o, got[min(int(o), len(got)-1)], len(got), v)
			}
		}
	}
	t.Logf("%d records acknowledged across the move from broker %d to %v", len(acked), owner, target)
}

// TestJoinRunningCluster adds a fourth broker to a running cluster with
// Join, moves a partition's replica onto it, and reads and writes through
// it; a broker joining under a taken node id is refused.
func TestJoinRunningCluster(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "grow", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p := int32(0)
	mustAck(t, brokers[0].produce(&runnelv1.ProduceRequest{Topic: "grow", Partition: &p, Records: []*runnelv1.Record{{Value: []byte("before")}}}))

	joined := startJoined(t, 4, brokers[1].srv.PeerAddr().String())
	waitFor(t, 30*time.Second, "broker 4 online in the cluster", func() error {
		c, err := brokers[0].client.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
		if err != nil {
			return err
		}
		if len(c.Brokers) != 4 || c.Brokers[3].NodeId != 4 || c.Brokers[3].State != runnelv1.BrokerState_BROKER_STATE_ONLINE {
			return fmt.Errorf("brokers %v", c.Brokers)
		}
		// NB: the controller knows the others' builds from their
		// registrations, the joined broker's included.
		for _, m := range c.Brokers {
			if m.Version != buildinfo.Read().String() {
				return fmt.Errorf("broker %d has version %q", m.NodeId, m.Version)
			}
		}
		return nil
	})
	if _, err := joined.client.Admin.ReassignPartition(ctx, &runnelv1.ReassignPartitionRequest{Topic: "grow", Partition: 0, Replicas: []int32{4, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the partition on brokers 4, 2, 3", func() error {
		d := describe(t, joined, "grow").Partitions[0]
		if !slices.Equal(d.Replicas, []int32{4, 2, 3}) || len(d.AddingReplicas)+len(d.RemovingReplicas) > 0 || d.Leader == 0 {
			return fmt.Errorf("replicas %v adding %v removing %v leader %d", d.Replicas, d.AddingReplicas, d.RemovingReplicas, d.Leader)
		}
		return nil
	})
	mustAck(t, joined.produce(&runnelv1.ProduceRequest{Topic: "grow", Partition: &p, Records: []*runnelv1.Record{{Value: []byte("after")}}}))
	for _, b := range append(brokers, joined) {
		waitFor(t, 30*time.Second, "both records readable", func() error {
			if got := readValues(t, b, "grow"); !slices.Equal(got, []string{"before", "after"}) {
				return fmt.Errorf("read %q", got)
			}
			return nil
		})
	}

	_, err := New(ctx, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", PeerListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", NodeID: 2,
		Join: brokers[0].srv.PeerAddr().String(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if status.Code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), "another id") {
		t.Fatalf("joining under a taken id: %v, want AlreadyExists saying to pick another id", err)
	}

	// A data directory of another cluster (a single broker's) cannot join.
	single := startBroker(t, "")
	single.stop()
	jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = New(jctx, Config{DataDir: single.dir, Listen: "127.0.0.1:0", PeerListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", NodeID: 5,
		Join: brokers[0].srv.PeerAddr().String(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "join with an empty data directory") {
		t.Fatalf("joining with another cluster's data directory: %v, want a refusal", err)
	}
}

// startJoined starts a broker that joins the cluster through seed, its
// Config adjusted by each of change.
func startJoined(t *testing.T, id int32, seed string, change ...func(*Config)) *testBroker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{
		DataDir:    t.TempDir(),
		Listen:     "127.0.0.1:0",
		PeerListen: "127.0.0.1:0",
		HTTPListen: "127.0.0.1:0",
		NodeID:     id,
		Join:       seed,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, c := range change {
		c(&cfg)
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("broker %d joining through %s: %v", id, seed, err)
	}
	b := &testBroker{t: t, dir: cfg.DataDir, srv: srv, served: make(chan error, 1)}
	go func() { b.served <- srv.Serve() }()
	if b.client, err = client.Dial(srv.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	return b
}

// withDataDir is a startJoined change: the broker's data directory.
func withDataDir(dir string) func(*Config) { return func(c *Config) { c.DataDir = dir } }

// TestSubscribeAtLeadersHighWatermarkViaFollower acks a record on the
// leader and at once subscribes through a follower from the offset after
// it, the leader's high watermark: the follower, a heartbeat behind, waits
// to catch up rather than answering OUT_OF_RANGE.
func TestSubscribeAtLeadersHighWatermarkViaFollower(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "lag", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var leader int32
	waitFor(t, 30*time.Second, "a leader for lag", func() error {
		leader = describe(t, brokers[0], "lag").Partitions[0].Leader
		if leader == 0 {
			return errors.New("no leader")
		}
		return nil
	})
	follower := brokers[leader%3]
	p := int32(0)
	for i := range 20 {
		acks := mustAck(t, brokers[leader-1].produce(&runnelv1.ProduceRequest{Topic: "lag", Partition: &p,
			Records: []*runnelv1.Record{{Value: fmt.Appendf(nil, "r%d", i)}}}))
		next := acks[0].BaseOffset + 1
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		stream, err := follower.client.Subscribe.Subscribe(sctx, &runnelv1.SubscribeRequest{Topic: "lag", Partitions: []int32{0},
			StartPosition: runnelv1.StartPosition_START_POSITION_OFFSET, StartOffset: next})
		if err == nil {
			_, err = stream.Recv()
		}
		cancel()
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("subscribe via a follower at offset %d, just acknowledged on the leader: %v", next, err)
		}
	}
}

// TestStartRefusesOtherPeers restarts a single broker's data directory as
// a member of a three-broker cluster: the metadata group's voters on disk
// are not the peers given, so the broker refuses to start, saying so,
// rather than run a cluster with a membership no one configured.
func TestStartRefusesOtherPeers(t *testing.T) {
	b := startBroker(t, "")
	dir := b.dir
	b.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := New(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", PeerListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", NodeID: 1,
		Peers:  map[int32]string{1: "127.0.0.1:1", 2: "127.0.0.1:2", 3: "127.0.0.1:3"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "initial brokers are [1]") {
		t.Fatalf("starting a single broker's directory with three peers: %v, want a refusal naming the brokers it has", err)
	}
}

// TestPlacementSpreadsTopics creates one-partition topics one after
// another on three brokers: their preferred leaders (and so, balanced,
// their leaders) go round the brokers rather than land at random.
func TestPlacementSpreadsTopics(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	leads := map[int32]int{}
	for i := range 6 {
		resp, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{
			Name: fmt.Sprintf("spread-%d", i), Partitions: 1, ReplicationFactor: 2})
		if err != nil {
			t.Fatal(err)
		}
		leads[describe(t, brokers[0], resp.Topic.Name).Partitions[0].Replicas[0]]++
	}
	for id := int32(1); id <= 3; id++ {
		if leads[id] != 2 {
			t.Fatalf("preferred leaders of 6 topics by broker: %v, want 2 each", leads)
		}
	}
}

// TestStartWithPeersDown starts one broker of a three-broker cluster
// whose peers are not up: its senders find them unreachable at once, and
// it waits for a quorum (here: until its context ends) rather than
// crashing.
func TestStartWithPeersDown(t *testing.T) {
	own, err := net.Listen("tcp", "127.0.0.1:0") // handed to the broker
	if err != nil {
		t.Fatal(err)
	}
	peers := map[int32]string{1: own.Addr().String(), 2: downAddr(t), 3: downAddr(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = New(ctx, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", PeerListen: peers[1], PeerListener: own,
		HTTPListen: "127.0.0.1:0", NodeID: 1, Peers: peers, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	// NB: a new data directory waits for a quorum of peers to say
	// whether their cluster exists (its transport runs meanwhile).
	if err == nil || !strings.Contains(err.Error(), "ask the peers whether their cluster exists") {
		t.Fatalf("starting without a quorum: %v, want an error saying no quorum of peers answered", err)
	}
}

// TestWipedBrokerRejoins restarts a broker of a cluster on an empty data
// directory: it asks its peers, finds their cluster, and rather than
// creating one of its own rejoins it, each of its replicas catching up
// (and not voting until then: see raftstore's TestRejoinAfterLostLog).
// It ends with the cluster's id and every record, in sync again.
func TestWipedBrokerRejoins(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "kept", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 10 {
		p := int32(i % 2)
		v := fmt.Sprintf("r%d", i)
		mustAck(t, brokers[0].produce(&runnelv1.ProduceRequest{Topic: "kept", Partition: &p, Records: []*runnelv1.Record{{Value: []byte(v)}}}))
		want = append(want, v)
	}
	clusterID, err := os.ReadFile(filepath.Join(brokers[0].dir, "cluster.id"))
	if err != nil {
		t.Fatal(err)
	}

	wiped := brokers[2]
	wiped.stop()
	if err := os.RemoveAll(wiped.dir); err != nil {
		t.Fatal(err)
	}
	if err := wiped.start(); err != nil {
		t.Fatalf("restart on an empty data directory: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(wiped.dir, "cluster.id")); err != nil || string(got) != string(clusterID) {
		t.Fatalf("the wiped broker's cluster id %q (%v), want the cluster's %q", got, err, clusterID)
	}
	waitFor(t, 30*time.Second, "both partitions in sync on all three brokers", func() error {
		for _, d := range describe(t, brokers[0], "kept").Partitions {
			if len(d.InSyncReplicas) != 3 {
				return fmt.Errorf("partition %d in sync %v", d.Partition, d.InSyncReplicas)
			}
		}
		return nil
	})
	waitFor(t, 30*time.Second, "no replica still rejoining", func() error {
		markers, err := filepath.Glob(filepath.Join(wiped.dir, "*", "rejoining"))
		if err != nil || len(markers) > 0 {
			return fmt.Errorf("markers %v (%v)", markers, err)
		}
		if _, err := os.Stat(filepath.Join(wiped.dir, "rejoining")); !os.IsNotExist(err) {
			return fmt.Errorf("the broker's marker: %v", err)
		}
		return nil
	})
	got := readValues(t, wiped, "kept")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read through the wiped broker %q, want %q", got, want)
	}
}

// TestPeerListenerIsSeparate: the raft transport and the membership
// service answer only on the peer listener, and the client listener does
// not take a client's word that its call was forwarded by a broker: the
// broker forwards it to the partition's replica as for any client.
func TestPeerListenerIsSeparate(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	b := brokers[0]
	clientConn, err := grpc.NewClient(b.srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer clientConn.Close()
	if _, err := raftv1.NewMembershipServiceClient(clientConn).Identify(ctx, &raftv1.IdentifyRequest{NodeId: 9}); status.Code(err) != codes.Unimplemented {
		t.Errorf("Identify on the client listener: %v, want Unimplemented", err)
	}
	stream, err := raftv1.NewRaftServiceClient(clientConn).Stream(ctx)
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("the raft transport on the client listener: %v, want Unimplemented", err)
	}
	peerConn, err := grpc.NewClient(b.srv.PeerAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer peerConn.Close()
	if resp, err := raftv1.NewMembershipServiceClient(peerConn).Identify(ctx, &raftv1.IdentifyRequest{NodeId: 9}); err != nil || resp.ClusterId == "" {
		t.Errorf("Identify on the peer listener: %v, %v; want the cluster's id", resp, err)
	}

	if _, err := b.client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "elsewhere", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	owner := describe(t, b, "elsewhere").Partitions[0].Replicas[0]
	other := brokers[owner%3] // holds no replica
	// NB: the topic reaches each broker with its metadata log: wait for
	// other to know it.
	waitFor(t, 10*time.Second, "the broker with no replica to know the topic", func() error {
		_, err := other.client.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "elsewhere"})
		return err
	})
	fwdCtx := metadata.AppendToOutgoingContext(ctx, peer.ForwardedHeader, "1")
	ps, err := other.client.Produce.Produce(fwdCtx)
	if err != nil {
		t.Fatal(err)
	}
	p := int32(0)
	if err := ps.Send(&runnelv1.ProduceRequest{Topic: "elsewhere", Partition: &p, Records: []*runnelv1.Record{{Value: []byte("v")}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := ps.Recv()
	if err != nil || resp.Error != nil || len(resp.Acks) != 1 {
		t.Fatalf("a client's produce claiming to be forwarded, through a broker with no replica: %v %v; want it forwarded and acked", resp, err)
	}
}

// TestProduceLeaderEpoch: DescribeTopic reports each leader's epoch, and a
// produce request fenced by it is appended through any broker while that
// leader leads; one fenced by another epoch is refused with the NotLeader
// detail, and appends nothing.
func TestProduceLeaderEpoch(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "epoch", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var info *runnelv1.PartitionInfo
	waitFor(t, 30*time.Second, "a leader for epoch", func() error {
		info = describe(t, brokers[0], "epoch").Partitions[0]
		if info.Leader == 0 || info.LeaderEpoch == 0 {
			return fmt.Errorf("leader %d in epoch %d", info.Leader, info.LeaderEpoch)
		}
		return nil
	})
	p := int32(0)
	want := 0
	for _, b := range brokers {
		if got := describe(t, b, "epoch").Partitions[0]; got.Leader != info.Leader || got.LeaderEpoch != info.LeaderEpoch {
			t.Fatalf("broker %d describes leader %d in epoch %d, broker 1 leader %d in epoch %d",
				b.cfg.NodeID, got.Leader, got.LeaderEpoch, info.Leader, info.LeaderEpoch)
		}
		fenced := func(epoch uint64) *runnelv1.ProduceResponse {
			return b.produce(&runnelv1.ProduceRequest{Topic: "epoch", Partition: &p, LeaderEpoch: epoch,
				Records: records(fmt.Sprintf("via %d in epoch %d", b.cfg.NodeID, epoch))})
		}
		if acks := mustAck(t, fenced(info.LeaderEpoch)); acks[0].BaseOffset != int64(want) {
			t.Fatalf("via broker %d: offset %d, want %d", b.cfg.NodeID, acks[0].BaseOffset, want)
		}
		want++
		for _, epoch := range []uint64{info.LeaderEpoch - 1, info.LeaderEpoch + 1} {
			resp := fenced(epoch)
			st := status.FromProto(resp.Error)
			if resp.Error == nil || st.Code() != codes.Unavailable || !strings.Contains(st.Message(), fmt.Sprintf("term %d", epoch)) {
				t.Fatalf("via broker %d, fenced to epoch %d while the leader is in %d: acks %v, error %v",
					b.cfg.NodeID, epoch, info.LeaderEpoch, resp.Acks, st)
			}
			if nl := notLeaderDetail(st); nl == nil || nl.LeaderId != info.Leader {
				t.Fatalf("via broker %d: the refusal's details %v, want NotLeader naming broker %d", b.cfg.NodeID, st.Details(), info.Leader)
			}
		}
	}
	resp := brokers[0].produce(&runnelv1.ProduceRequest{Topic: "epoch", LeaderEpoch: info.LeaderEpoch, Records: records("x")})
	if st := status.FromProto(resp.Error); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "set partition") {
		t.Fatalf("fenced without a partition: %v", st)
	}
	// NB: from the leader: a follower's replica may not have the last
	// append yet.
	if got := readValues(t, brokers[info.Leader-1], "epoch"); len(got) != want {
		t.Fatalf("the log holds %q, want only the %d requests fenced to the leader's epoch", got, want)
	}
}

func notLeaderDetail(st *status.Status) *runnelv1.NotLeader {
	for _, d := range st.Details() {
		if nl, ok := d.(*runnelv1.NotLeader); ok {
			return nl
		}
	}
	return nil
}
