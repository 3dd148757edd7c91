package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// liveHeap is the heap a collection found live before it began: what the
// broker (in this process) holds. The collector counts as live everything
// allocated while it marks (new objects are born marked: gcmarknewobject
// in runtime/mgcmark.go), garbage or not, which beside running producers
// is tens of MiB; so what was allocated during the collection is taken
// off. Not HeapInuse, which counts all that was allocated since.
// NB: two collections: buffers free in gRPC's pools (sync.Pool) survive
// the first; they are garbage, not memory a stream holds.
func liveHeap() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}}
	runtime.GC()
	metrics.Read(sample)
	allocated := sample[0].Value.Uint64()
	runtime.GC()
	metrics.Read(sample)
	live, during := sample[1].Value.Uint64(), sample[0].Value.Uint64()-allocated
	return live - min(live, during)
}

// bigRequest is a request of n records of size bytes each.
func bigRequest(topic string, partition int32, n, size int) *runnelv1.ProduceRequest {
	req := &runnelv1.ProduceRequest{Topic: topic, Partition: ptr(partition)}
	for range n {
		req.Records = append(req.Records, &runnelv1.Record{Value: bytes.Repeat([]byte{'x'}, size)})
	}
	return req
}

// slowClient dials the broker with gRPC's smallest flow-control windows
// (which also turns off its window growth), so that what a client that
// never reads takes in its own transport stays small: the test measures
// the broker.
func slowClient(t *testing.T, b *testBroker) *client.Client {
	t.Helper()
	c, err := client.Dial(b.srv.Addr().String(), client.WithDialOptions(
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestMemoryBudgetBoundsSlowStreams opens 16 subscriptions that never
// read, over 8 partitions holding 4 MiB each, and 8 produce streams that
// push 1 MiB requests without reading their acks: the heap grows by less
// than the broker's budget (64 MiB) plus what gRPC holds outside it (32
// MiB) plus what the producers' client holds in this process (24 MiB, see
// below) plus 8 MiB of slack: 128 MiB. Measured: about 33 MiB with the
// subscriptions stuck, 85 to 118 MiB at the peak while producing (45 to
// 79 under the race detector). Without the budget the stuck subscriptions
// alone grew it by about 190 MiB (and never wait for budget).
// Meanwhile the producers and another reader make progress.
func TestMemoryBudgetBoundsSlowStreams(t *testing.T) {
	const (
		budget     = 64 << 20
		streamCap  = 8 << 20
		partitions = 8
		slowSubs   = 16
		producers  = 8
		requests   = 32 // per producer, of 1 MiB
		batchBytes = 1 << 20
	)
	b := startBrokerWith(t, "", func(c *Config) {
		c.MaxInflightBytes, c.MaxStreamInflightBytes = budget, streamCap
	})
	b.createTopic("stored", partitions, nil)
	b.createTopic("incoming", producers, nil)
	for p := range int32(partitions) {
		for _, resp := range b.produceAll(bigRequest("stored", p, 16, 64<<10), bigRequest("stored", p, 16, 64<<10),
			bigRequest("stored", p, 16, 64<<10), bigRequest("stored", p, 16, 64<<10)) {
			mustAck(t, resp)
		}
	}
	// NB: the producers' requests are the test's, built before the
	// baseline.
	reqs := make([]*runnelv1.ProduceRequest, producers)
	for p := range reqs {
		reqs[p] = bigRequest("incoming", int32(p), 16, 64<<10)
	}
	before := liveHeap()

	slow := slowClient(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range slowSubs {
		if _, err := slow.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: "stored", MaxBatchBytes: batchBytes}); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
	}
	// Stuck: every partition reader of every subscription waits for its
	// subscription's share, held by a response the client never reads
	// (gRPC holds one more, taken from the budget's account).
	waitFor(t, 30*time.Second, "the slow subscriptions to be stuck", func() error {
		return is("readers waiting on their share", b.srv.budget.waitingStream.Load(), slowSubs*partitions)
	})
	stuck := liveHeap()

	// The producers run beside them: each sends all its requests before
	// it reads an ack.
	var (
		peak uint64 // written by the sampler until sampled is closed
		wg   sync.WaitGroup
	)
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			default:
			}
			peak = max(peak, liveHeap())
		}
	}()
	pc := b.client
	errs := make(chan error, producers)
	for p := range int32(producers) {
		wg.Go(func() {
			stream, err := pc.Produce.Produce(ctx)
			if err != nil {
				errs <- err
				return
			}
			req := reqs[p]
			for range requests {
				if err := stream.Send(req); err != nil {
					errs <- err
					return
				}
			}
			stream.CloseSend()
			for range requests {
				resp, err := stream.Recv()
				if err != nil {
					errs <- err
					return
				}
				if resp.Error != nil {
					errs <- status.ErrorProto(resp.Error)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	<-sampled
	close(errs)
	for err := range errs {
		t.Fatalf("producer beside the slow subscriptions: %v", err)
	}
	// Another reader of the stored records is not held up either.
	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "stored", Partitions: []int32{3}})
	if err != nil || len(got[3]) != 4*16 {
		t.Fatalf("reader beside the slow subscriptions: %d records, %v; want 64", len(got[3]), err)
	}
	after := liveHeap()
	const mib = 1 << 20
	// Outside the budget, gRPC holds per stream what its flow-control
	// window lets in (gRPC credits a connection's window on arrival, so
	// only the streams' windows bound it), and one message: the response
	// it took from each slow subscription, the request each producer read
	// beyond the budget while it waits. The producers' own client, in this
	// process too, keeps the requests it encoded until the broker's window
	// lets them out: about 3 MiB each, measured. 8 MiB of slack.
	const (
		transport = producers*DefaultStreamWindowBytes + slowSubs*batchBytes + producers*1<<20
		clients   = producers * 3 << 20
	)
	limit := uint64(budget + transport + clients + 8<<20)
	t.Logf("live heap: %d MiB before, %d MiB with the subscriptions stuck, peak %d MiB while producing, %d MiB after; limit: %d MiB over before",
		before/mib, stuck/mib, peak/mib, after/mib, limit/mib)
	for _, m := range []struct {
		what string
		heap uint64
	}{{"with the subscriptions stuck", stuck}, {"while producing", peak}, {"after producing", after}} {
		if m.heap > before && m.heap-before > limit {
			t.Errorf("heap %s grew by %d MiB, over the budget and its margin (%d MiB)", m.what, (m.heap-before)/mib, limit/mib)
		}
	}
}

// TestBudgetBlockedStreamResumes: a subscription that never reads holds
// half of a 2 MiB budget; a producer then waits for budget, and goes on once the
// subscription ends. A request larger than the whole budget proceeds
// alone. Nothing stays held.
func TestBudgetBlockedStreamResumes(t *testing.T) {
	const budget = 2 << 20
	b := startBrokerWith(t, "", func(c *Config) { c.MaxInflightBytes = budget })
	b.createTopic("t", 1, nil)
	for range 8 {
		mustAck(t, b.produce(bigRequest("t", 0, 16, 64<<10)))
	}

	endSub, stream := spendBudget(t, b, "t")
	// Operators see it too.
	metrics, err := http.Get("http://" + b.srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if err != nil || !strings.Contains(string(text), "\nrunnel_inflight_waiting_streams 1\n") {
		t.Errorf("/metrics does not show the waiting stream (%v):\n%s", err, text)
	}
	endSub()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	mustAck(t, resp)

	// 3 MiB, over the whole budget even once: it takes all of it, alone.
	if err := stream.Send(bigRequest("t", 0, 6, 512<<10)); err != nil {
		t.Fatal(err)
	}
	if resp, err = stream.Recv(); err != nil {
		t.Fatal(err)
	}
	mustAck(t, resp)
	stream.CloseSend()
	waitFor(t, 10*time.Second, "the budget to be free", func() error { return is("bytes held", b.srv.budget.held.Load(), 0) })
	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "t"})
	if err != nil || len(got[0]) != 8*16+24+6 {
		t.Fatalf("read back %d records, %v; want %d", len(got[0]), err, 8*16+24+6)
	}
}

// spendBudget spends a broker's 2 MiB budget: a subscription to topic
// (holding at least 1 MiB) that never reads holds its share, until
// endSub, and the returned produce stream's request waits for the rest.
func spendBudget(t *testing.T, b *testBroker, topic string) (endSub context.CancelFunc, stream runnelv1.ProduceService_ProduceClient) {
	t.Helper()
	slow := slowClient(t, b)
	subCtx, endSub := context.WithCancel(t.Context())
	t.Cleanup(endSub)
	if _, err := slow.Subscribe.Subscribe(subCtx, &runnelv1.SubscribeRequest{Topic: topic, MaxBatchBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the subscription to hold its share", func() error {
		return is("streams waiting on their share", b.srv.budget.waitingStream.Load(), 1)
	})
	stream, err := b.client.Produce.Produce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// 1.5 MiB, charged twice (produceCopies): more than the subscription
	// left (it holds one response of about 1 MiB, and waits to build the
	// next), so it waits for the whole budget.
	if err := stream.Send(bigRequest(topic, 0, 24, 64<<10)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the producer to wait for budget", func() error {
		return is("streams waiting on the broker", b.srv.budget.waiting.Load(), 1)
	})
	return endSub, stream
}

// TestBlockedStreamSendsAWindow: a produce stream waiting for budget reads
// no more, and its client gets no further than the broker's fixed
// flow-control window (256 KiB here), even on a connection that has just
// moved 48 MiB, over which gRPC's window growth (BDP estimation) would
// have let each stream buffer more in the broker, outside its budget (up
// to 16 MiB; measured here without it, 0.8 to 2.6 MiB).
func TestBlockedStreamSendsAWindow(t *testing.T) {
	const budget, window = 2 << 20, 256 << 10
	b := startBrokerWith(t, "", func(c *Config) { c.MaxInflightBytes, c.StreamWindowBytes = budget, window })
	b.createTopic("t", 1, nil)
	warmup := make([]*runnelv1.ProduceRequest, 48)
	for i := range warmup {
		warmup[i] = bigRequest("t", 0, 16, 64<<10)
	}
	for _, resp := range b.produceAll(warmup...) {
		mustAck(t, resp)
	}

	_, stream := spendBudget(t, b, "t")

	// The client sends on until gRPC flow control stops it.
	const request = 64 << 10
	var sent atomic.Int64
	go func() {
		req := bigRequest("t", 0, 1, request-64)
		for stream.Send(req) == nil {
			sent.Add(int64(proto.Size(req)))
		}
	}()
	var last int64 = -1
	for still := 0; still < 5; {
		time.Sleep(100 * time.Millisecond)
		if n := sent.Load(); n != last {
			last, still = n, 0
		} else {
			still++
		}
	}
	// What the broker's window let in, what the client's transport holds
	// (gRPC's 64 KiB write quota per stream) and the message in hand.
	const most = window + 64<<10 + 2*request
	t.Logf("the client sent %d KiB before flow control stopped it; at most %d KiB", last>>10, most>>10)
	if last > most {
		t.Errorf("a stream that the broker does not read sent %d KiB, over its window and the client's buffers (%d KiB)", last>>10, most>>10)
	}
}
