package sidecar_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/recordbatch"
)

// reader is an application reading one subscription stream.
type reader struct {
	mu          sync.Mutex        // guards the fields below
	offsets     map[int32][]int64 // per partition, in the order received
	assignments []*runnelv1.GroupAssignment
	records     int
	err         error // the stream's end (io.EOF at its end)
	done        chan struct{}
}

// read reads stream in the background until it ends.
func read(stream runnelv1.SubscribeService_SubscribeClient) *reader {
	r := &reader{offsets: map[int32][]int64{}, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			resp, err := stream.Recv()
			r.mu.Lock()
			if err != nil {
				r.err = err
				r.mu.Unlock()
				return
			}
			if a := resp.GetAssignment(); a != nil {
				r.assignments = append(r.assignments, a)
			}
			if b := resp.GetBatch(); b != nil {
				recs, err := recordbatch.Records(b, 0)
				if err != nil {
					r.err = err
					r.mu.Unlock()
					return
				}
				for _, rec := range recs {
					r.offsets[b.Partition] = append(r.offsets[b.Partition], rec.Offset)
				}
				r.records += len(recs)
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// wait waits until the application has n records, failing the test if
// the stream ends first.
func (r *reader) wait(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d records", n), func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.err != nil {
			t.Fatalf("the subscription ended after %d of %d records: %v", r.records, n, r.err)
		}
		if r.records < n {
			return fmt.Errorf("%d records", r.records)
		}
		return nil
	})
}

// produceEach produces n records (values "p<partition>-<i>") to each of
// the topic's partitions, directly to the broker, in one batch per
// partition compressed with codec.
func produceEach(t *testing.T, s *stubs, topic string, partitions int32, from, n int, codec compression.Codec) {
	t.Helper()
	var reqs []*runnelv1.ProduceRequest
	for p := range partitions {
		req := &runnelv1.ProduceRequest{Topic: topic, Partition: &p}
		for i := from; i < from+n; i++ {
			req.Records = append(req.Records, &runnelv1.Record{Value: fmt.Appendf(nil, "p%d-%d", p, i), Timestamp: timestamppb.Now()})
		}
		if codec != compression.None {
			z, err := recordbatch.Compress(req.Records, codec)
			if err != nil {
				t.Fatal(err)
			}
			req.Records, req.CompressedRecords = nil, z
		}
		reqs = append(reqs, req)
	}
	produceOK(t, s, reqs...)
}

// checkOnceInOrder: each partition's offsets are 0 to n-1, each once.
func (r *reader) checkOnceInOrder(t *testing.T, partitions int32, n int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range partitions {
		offs := r.offsets[p]
		ok := len(offs) == n
		for i := 0; ok && i < n; i++ {
			ok = offs[i] == int64(i)
		}
		if !ok {
			t.Errorf("partition %d: the application got offsets %v, want 0 to %d once each", p, offs, n-1)
		}
	}
}

// throughRestart subscribes through a sidecar with req (topic "t" of the
// given partitions) and reads n records of each partition, produced
// compressed with codec, half of them before its broker restarts and half
// after; the reader has read each partition's last one when it returns.
func throughRestart(t *testing.T, partitions int32, n int, codec compression.Codec, req *runnelv1.SubscribeRequest) *reader {
	t.Helper()
	b := startBroker(t)
	direct := dial(t, b.addr)
	createTopic(t, direct, "t", partitions, nil)
	produceEach(t, direct, "t", partitions, 0, n/2, codec)
	sc := startSidecar(t, "", 64<<20, b.addr)
	app := dial(t, sc.Addr())

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := app.subscribe.Subscribe(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r := read(stream)
	r.wait(t, int(partitions)*(n/2))
	b.stop()
	b.start()
	produceEach(t, direct, "t", partitions, n/2, n-n/2, codec)
	// NB: a partition's records come in order: a record sent twice comes
	// before its last one.
	waitFor(t, 60*time.Second, "the last record of every partition", func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.err != nil {
			t.Fatalf("the subscription ended after %d records: %v", r.records, r.err)
		}
		for p := range partitions {
			if offs := r.offsets[p]; len(offs) == 0 || offs[len(offs)-1] < int64(n-1) {
				return fmt.Errorf("partition %d read to %v", p, offs[max(0, len(offs)-1):])
			}
		}
		return nil
	})
	return r
}

// TestSubscriptionResumesWhereItLeftOff: a read of every partition through
// the sidecar, following, outlives its broker's restart. The
// application's stream does not end, and it gets every record of each
// partition once, in order: the sidecar resumed each partition at the
// offset after the last record it had sent.
func TestSubscriptionResumesWhereItLeftOff(t *testing.T) {
	r := throughRestart(t, 3, 60, compression.None, &runnelv1.SubscribeRequest{Topic: "t", Follow: true,
		StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST})
	r.checkOnceInOrder(t, 3, 60)
}

// TestMemberResumesWithoutRepeats: a group member reading through the
// sidecar outlives its broker's restart. It commits nothing, so the
// broker restarts its partitions from the earliest offset; the sidecar
// re-attaches it as the member it was and sends it neither a record nor
// an assignment twice. Its batches are compressed, and it takes them as
// they are: the sidecar drops those it had.
func TestMemberResumesWithoutRepeats(t *testing.T) {
	r := throughRestart(t, 2, 50, compression.Zstd, &runnelv1.SubscribeRequest{Topic: "t", Group: "g", Follow: true,
		AcceptCompression: []runnelv1.Compression{runnelv1.Compression(compression.Zstd)}})
	r.checkOnceInOrder(t, 2, 50)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.assignments) != 1 {
		t.Errorf("the member was told %d assignments, want 1 (a re-attached member keeps its partitions): %v", len(r.assignments), r.assignments)
	}
}
