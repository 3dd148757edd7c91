package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/partitioner"
)

func newClient(t testing.TB, addrs ...string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, addrs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func createTopic(t testing.TB, c *client.Client, name string, partitions, rf int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: name, Partitions: partitions, ReplicationFactor: rf}); err != nil {
		t.Fatal(err)
	}
}

// readAll reads partition's whole log.
func readAll(t testing.TB, c *client.Client, topic string, partition int32) []*runnelv1.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: topic, Partitions: []int32{partition},
		StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST})
	if err != nil {
		t.Fatal(err)
	}
	var out []*runnelv1.Record
	for {
		resp, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("subscribe %s/%d: %v", topic, partition, err)
		}
		out = append(out, resp.GetBatch().GetRecords()...)
	}
}

func TestKeyedRecordsLandOnMurmur2Partitions(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "keyed", 6, 1)
	p := c.Producer()
	defer p.Close()
	ctx := context.Background()
	for i := range 200 {
		key := fmt.Appendf(nil, "user-%d", i)
		ack, err := p.ProduceSync(ctx, &client.Record{Topic: "keyed", Key: key, Value: []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		if want := partitioner.ForKey(key, 6); ack.Partition != want {
			t.Fatalf("key %s went to partition %d, murmur2 says %d", key, ack.Partition, want)
		}
	}
	// NB: and the broker agrees: a keyed record sent without a partition
	// through the raw stubs lands where the SDK put it.
	stream, err := c.Produce.Produce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&runnelv1.ProduceRequest{Topic: "keyed", Records: []*runnelv1.Record{{Key: []byte("user-7"), Value: []byte("raw")}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.Error != nil {
		t.Fatal(err, resp.GetError())
	}
	if got, want := resp.Acks[0].Partition, partitioner.ForKey([]byte("user-7"), 6); got != want {
		t.Fatalf("broker put user-7 on %d, the SDK on %d", got, want)
	}
}

func TestKeylessRecordsStickToAPartitionPerBatch(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "sticky", 8, 1)
	// NB: a long linger and a batch of ~10 records: batches close by size.
	p := c.Producer(client.WithLinger(time.Hour), client.WithMaxBatchBytes(10*(100+24)))
	defer p.Close()
	ctx := context.Background()
	var results []*client.Result
	for range 100 {
		results = append(results, p.ProduceAsync(ctx, &client.Record{Topic: "sticky", Value: make([]byte, 100)}))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var parts []int32
	for _, r := range results {
		ack, err := r.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, ack.Partition)
	}
	used := map[int32]bool{}
	for i := 0; i < 100; i += 10 {
		for j := i; j < i+10; j++ {
			if parts[j] != parts[i] {
				t.Fatalf("records %d and %d of one batch went to partitions %d and %d: %v", i, j, parts[i], parts[j], parts)
			}
		}
		if i > 0 && parts[i] == parts[i-1] {
			t.Fatalf("batch at record %d stayed on partition %d: the sticky partition moves per batch: %v", i, parts[i], parts)
		}
		used[parts[i]] = true
	}
	if len(used) < 3 {
		t.Fatalf("10 batches used only partitions %v", used)
	}
}

func TestOrderPerPartitionUnderPipelining(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "ordered", 4, 1)
	// NB: small batches: many requests in flight on the one stream.
	p := c.Producer(client.WithMaxBatchBytes(2048), client.WithLinger(time.Millisecond))
	ctx := context.Background()
	const perPartition = 2000
	var mu sync.Mutex
	var firstErr error
	for i := range perPartition {
		for part := range int32(4) {
			p.Produce(ctx, &client.Record{Topic: "ordered", Partition: new(part), Value: fmt.Appendf(nil, "%d", i)}, func(_ client.Ack, err error) {
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
				}
			})
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	p.Close()
	for part := range int32(4) {
		recs := readAll(t, c, "ordered", part)
		if len(recs) != perPartition {
			t.Fatalf("partition %d has %d records, want %d", part, len(recs), perPartition)
		}
		for i, r := range recs {
			if string(r.Value) != fmt.Sprint(i) {
				t.Fatalf("partition %d offset %d holds %q, want %d: out of order", part, i, r.Value, i)
			}
		}
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func TestFlushSendsWithoutWaitingForLinger(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "flush", 1, 1)
	p := c.Producer(client.WithLinger(time.Hour))
	defer p.Close()
	ctx := context.Background()
	var results []*client.Result
	for i := range 10 {
		results = append(results, p.ProduceAsync(ctx, &client.Record{Topic: "flush", Value: fmt.Appendf(nil, "%d", i)}))
	}
	select {
	case <-results[0].Done():
		t.Fatal("acked before Flush with an hour's linger")
	case <-time.After(200 * time.Millisecond):
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		select {
		case <-r.Done():
		default:
			t.Fatalf("record %d not resolved after Flush", i)
		}
		ack, err := r.Wait(ctx)
		if err != nil || ack.Offset != int64(i) {
			t.Fatalf("record %d: %+v %v", i, ack, err)
		}
	}
}

func TestBufferFull(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "full", 1, 1)
	p := c.Producer(client.WithLinger(time.Hour), client.WithMaxBufferedBytes(10_000), client.WithFailWhenBufferFull())
	defer p.Close()
	ctx := context.Background()
	first := p.ProduceAsync(ctx, &client.Record{Topic: "full", Value: make([]byte, 6000)})
	second := p.ProduceAsync(ctx, &client.Record{Topic: "full", Value: make([]byte, 6000)})
	if _, err := second.Wait(ctx); !errors.Is(err, client.ErrBufferFull) {
		t.Fatalf("second record over the buffer: %v, want ErrBufferFull", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// Room again once the first is acked.
	again := p.ProduceAsync(ctx, &client.Record{Topic: "full", Value: make([]byte, 6000)})
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	// Blocking (the default): Produce waits for room, until its ctx ends.
	pb := c.Producer(client.WithLinger(time.Hour), client.WithMaxBufferedBytes(10_000))
	defer pb.Close()
	pb.Produce(ctx, &client.Record{Topic: "full", Value: make([]byte, 6000)}, nil)
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := pb.ProduceAsync(wctx, &client.Record{Topic: "full", Value: make([]byte, 6000)}).Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("blocked Produce: %v after %s, want it to wait for room until its deadline", err, time.Since(start))
	}
}

func TestNonRetriableErrorNamesTheRecord(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	ctx := context.Background()
	if _, err := c.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "small", Partitions: 1,
		Config: map[string]string{"max.message.bytes": "1000"}}); err != nil {
		t.Fatal(err)
	}
	p := c.Producer(client.WithLinger(time.Hour))
	defer p.Close()
	var results []*client.Result
	for i := range 3 {
		size := 10
		if i == 1 {
			size = 5000
		}
		results = append(results, p.ProduceAsync(ctx, &client.Record{Topic: "small", Key: fmt.Appendf(nil, "k%d", i), Value: make([]byte, size)}))
	}
	start := time.Now()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("a non-retriable error took %s: it must fail at once", time.Since(start))
	}
	for i, r := range results {
		_, err := r.Wait(ctx)
		var re *client.RecordError
		if !errors.As(err, &re) {
			t.Fatalf("record %d: %v, want a *RecordError", i, err)
		}
		if status.Code(err) != codes.InvalidArgument || re.Culprit != 1 || re.Index != i || string(re.Record.Key) != fmt.Sprintf("k%d", i) {
			t.Fatalf("record %d: %v (code %v, culprit %d, index %d)", i, err, status.Code(err), re.Culprit, re.Index)
		}
		if !strings.Contains(err.Error(), "max.message.bytes") || !strings.Contains(err.Error(), fmt.Sprintf("k%d", i)) {
			t.Fatalf("record %d's error says neither why nor which: %v", i, err)
		}
	}
	_, err := results[1].Wait(ctx)
	t.Logf("refused: %v", err)
	_, err = results[0].Wait(ctx)
	t.Logf("its batch mate: %v", err)
}

// TestLeaderStoppedWhileProducing: in a 3-broker cluster, the leader of
// a partition is killed while records stream to it; every acked record
// is in the log afterwards, at its acked offset, and every record at most
// once, in the order produced.
func TestLeaderStoppedWhileProducing(t *testing.T) {
	brokers := startCluster(t, 3)
	addrs := []string{brokers[0].addr, brokers[1].addr, brokers[2].addr}
	c := newClient(t, addrs...)
	createTopic(t, c, "failover", 3, 3)
	ctx := context.Background()
	var leader int32
	waitUntil(t, 30*time.Second, "partition 0 has a leader", func() bool {
		resp, err := c.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "failover"})
		if err != nil {
			return false
		}
		leader = resp.Partitions[0].Leader
		return leader != 0
	})
	p := c.Producer(client.WithLinger(2*time.Millisecond), client.WithMaxBatchBytes(4096))
	type acked struct {
		ack   client.Ack
		value string
	}
	var mu sync.Mutex
	var acks []acked
	var failed []error
	var produced atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprint(i)
			produced.Store(int64(i))
			p.Produce(ctx, &client.Record{Topic: "failover", Partition: new(int32(i % 3)), Value: []byte(v)}, func(a client.Ack, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, err)
					return
				}
				acks = append(acks, acked{a, v})
			})
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	time.Sleep(time.Second)
	t.Logf("killing broker %d, partition 0's leader", leader)
	brokers[leader-1].kill()
	killedAt := produced.Load()
	time.Sleep(3 * time.Second)
	close(stop)
	<-done
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	p.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("%d records failed, the first: %v", len(failed), failed[0])
	}
	var survivor string
	for i, b := range brokers {
		if int32(i+1) != leader {
			survivor = b.addr
		}
	}
	rc := newClient(t, survivor)
	logs := map[int32][]*runnelv1.Record{}
	for part := range int32(3) {
		logs[part] = readAll(t, rc, "failover", part)
	}
	after := 0
	for _, a := range acks {
		log := logs[a.ack.Partition]
		if a.ack.Offset >= int64(len(log)) || string(log[a.ack.Offset].Value) != a.value {
			t.Fatalf("acked record %q at %d/%d is not in the log (%d records)", a.value, a.ack.Partition, a.ack.Offset, len(log))
		}
		if n, _ := strconv.ParseInt(a.value, 10, 64); a.ack.Partition == 0 && n > killedAt {
			after++
		}
	}
	// Idempotence: retries after the kill (broken streams, acks never
	// received) appended nothing twice, and nothing out of order.
	for part, log := range logs {
		last := int64(-1)
		for off, r := range log {
			n, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil || n <= last {
				t.Fatalf("partition %d offset %d holds %q after %d: a duplicate or a reordering", part, off, r.Value, last)
			}
			last = n
		}
	}
	t.Logf("%d records acked, all in the log once, in order; %d on partition 0 produced after its leader was killed", len(acks), after)
	if after == 0 {
		t.Fatal("no record produced to partition 0 after the kill was acked: the producer did not fail over")
	}
}

func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProducerCompression: with WithCompression the broker stores each
// batch as the producer compressed it: a subscriber that accepts the
// codec gets it so, one that does not gets the records.
func TestProducerCompression(t *testing.T) {
	br := startBroker(t)
	c := newClient(t, br.addr)
	ctx := context.Background()
	for _, codec := range compression.Codecs[1:] {
		topic := "z-" + codec.String()
		createTopic(t, c, topic, 1, 1)
		p := c.Producer(client.WithCompression(codec))
		for i := range 10 {
			p.Produce(ctx, &client.Record{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, `{"n":%d}`, i)}, nil)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		var values []string
		for _, r := range readAll(t, c, topic, 0) {
			values = append(values, string(r.Value))
		}
		if len(values) != 10 || values[0] != `{"n":0}` || values[9] != `{"n":9}` {
			t.Fatalf("%v: read %q", codec, values)
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		stream, err := c.Subscribe.Subscribe(sctx, &runnelv1.SubscribeRequest{Topic: topic,
			AcceptCompression: []runnelv1.Compression{runnelv1.Compression(codec)}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if z := resp.Batch.GetCompressed(); z == nil || z.Compression != runnelv1.Compression(codec) {
			t.Fatalf("%v: a subscriber accepting it got %v", codec, resp.Batch)
		}
	}
}

// TestOneBootstrapAddress: a client given one broker of a cluster learns
// the others, produces to partitions led anywhere and reads them back.
func TestOneBootstrapAddress(t *testing.T) {
	brokers := startCluster(t, 3)
	c := newClient(t, brokers[2].addr)
	createTopic(t, c, "one", 3, 3)
	ctx := context.Background()
	p := c.Producer()
	leaders := map[int32]bool{}
	for i := range 30 {
		ack, err := p.ProduceSync(ctx, &client.Record{Topic: "one", Partition: new(int32(i % 3)), Value: fmt.Appendf(nil, "r%d", i)})
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if ack.Offset != int64(i/3) {
			t.Fatalf("record %d acked at %d/%d, want offset %d", i, ack.Partition, ack.Offset, i/3)
		}
	}
	p.Close()
	resp, err := c.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range resp.Partitions {
		leaders[part.Leader] = true
		if got := readAll(t, c, "one", part.Partition); len(got) != 10 {
			t.Fatalf("partition %d holds %d records, want 10", part.Partition, len(got))
		}
	}
	t.Logf("partitions led by brokers %v, produced through one bootstrap address", leaders)
}

// TestFlushWaitsForCallbacks: Flush returns once every record's callback
// has run, a slow one included, as Kafka's flush does.
func TestFlushWaitsForCallbacks(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "callbacks", 1, 1)
	p := c.Producer(client.WithLinger(time.Hour))
	defer p.Close()
	ctx := context.Background()
	var ran atomic.Int32
	for i := range 5 {
		p.Produce(ctx, &client.Record{Topic: "callbacks", Value: fmt.Appendf(nil, "%d", i)}, func(client.Ack, error) {
			time.Sleep(20 * time.Millisecond) // NB: a slow callback: Flush must wait it out.
			ran.Add(1)
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := ran.Load(); n != 5 {
		t.Fatalf("Flush returned with %d of 5 callbacks run", n)
	}
}

// TestProducerSaysWhyTheBrokerRefusedItsStream: a broker that refuses a
// producer's stream (its principal is at --max-streams-per-principal)
// does so as the producer sends on it; the record that fails says what
// the broker said, rather than that the stream broke.
func TestProducerSaysWhyTheBrokerRefusedItsStream(t *testing.T) {
	hash := sha256.Sum256([]byte("t-alice"))
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("User:alice sha256:"+hex.EncodeToString(hash[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, "--token-file", path, "--max-streams-per-principal", "1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(ctx, []string{b.addr}, client.WithToken("t-alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	// alice's one stream, held open
	p0 := int32(0)
	held, err := c.Produce.Produce(ctx)
	if err == nil {
		err = held.Send(&runnelv1.ProduceRequest{Topic: "t", Partition: &p0, Records: []*runnelv1.Record{{Value: []byte("held")}}})
	}
	if err == nil {
		_, err = held.Recv()
	}
	if err != nil {
		t.Fatal(err)
	}
	p := c.Producer(client.WithDeliveryTimeout(2 * time.Second))
	defer p.Close()
	_, err = p.ProduceSync(ctx, &client.Record{Topic: "t", Value: []byte("v")})
	if msg := `principal "User:alice" has 1 streams open on this broker, its limit`; err == nil || !strings.Contains(err.Error(), msg) {
		t.Fatalf("a record over alice's stream limit: %v, want an error saying %q", err, msg)
	}
}
