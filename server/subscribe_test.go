package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func TestStartPositions(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("t", 1, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*runnelv1.Record
	for i := range 10 {
		recs = append(recs, &runnelv1.Record{Value: []byte{'a' + byte(i)}, Timestamp: timestamppb.New(base.Add(time.Duration(i) * time.Minute))})
	}
	// Two batches, so that a timestamp lookup lands inside a batch.
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "t", Records: recs[:5]}))
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "t", Records: recs[5:]}))
	for _, tc := range []struct {
		name  string
		req   *runnelv1.SubscribeRequest
		first string
		count int
	}{
		{"unspecified is earliest", &runnelv1.SubscribeRequest{Topic: "t"}, "a", 10},
		{"earliest", &runnelv1.SubscribeRequest{Topic: "t", StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST}, "a", 10},
		{"latest", &runnelv1.SubscribeRequest{Topic: "t", StartPosition: runnelv1.StartPosition_START_POSITION_LATEST}, "", 0},
		{"offset", &runnelv1.SubscribeRequest{Topic: "t", StartPosition: runnelv1.StartPosition_START_POSITION_OFFSET, StartOffset: 7}, "h", 3},
		{"offset at high watermark", &runnelv1.SubscribeRequest{Topic: "t", StartPosition: runnelv1.StartPosition_START_POSITION_OFFSET, StartOffset: 10}, "", 0},
		{"timestamp inside a batch", &runnelv1.SubscribeRequest{Topic: "t", StartPosition: runnelv1.StartPosition_START_POSITION_TIMESTAMP,
			StartTime: timestamppb.New(base.Add(150 * time.Second))}, "d", 7},
		{"timestamp after all", &runnelv1.SubscribeRequest{Topic: "t", StartPosition: runnelv1.StartPosition_START_POSITION_TIMESTAMP,
			StartTime: timestamppb.New(base.Add(time.Hour))}, "", 0},
		{"committed without a commit is earliest", &runnelv1.SubscribeRequest{Topic: "t", Group: "new"}, "a", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.readAll(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(got[0]) != tc.count {
				t.Fatalf("got %d records %v, want %d", len(got[0]), values(got[0]), tc.count)
			}
			if tc.count > 0 && string(got[0][0].Value) != tc.first {
				t.Fatalf("first record %q, want %q", got[0][0].Value, tc.first)
			}
		})
	}
}

// TestFollowWakesOnCommit checks that a following subscriber gets records
// produced after it caught up, and that without follow the stream ends at
// the high watermark of the call.
func TestFollowWakesOnCommit(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("live", 2, nil)
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "live", Partition: ptr(int32(0)), Records: records("before")}))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := b.client.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: "live", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || string(first.Batch.Records[0].Value) != "before" {
		t.Fatalf("first batch %v, %v", first, err)
	}
	for i, p := range []int32{1, 0, 1} {
		v := string(rune('x' + i))
		mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "live", Partition: ptr(p), Records: records(v)}))
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Batch.Partition != p || string(resp.Batch.Records[0].Value) != v {
			t.Fatalf("woke with %v, want %q in partition %d", resp.Batch, v, p)
		}
	}
	cancel()
	_, err = stream.Recv()
	wantCode(t, "recv after cancel", err, codes.Canceled)
}

// TestFollowEndsOnShutdown checks a following stream does not hold the
// broker's shutdown up and ends with Unavailable.
func TestFollowEndsOnShutdown(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("live", 1, nil)
	stream, err := b.client.Subscribe.Subscribe(context.Background(), &runnelv1.SubscribeRequest{Topic: "live", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() { _, err := stream.Recv(); errs <- err }()
	// NB: the call has reached the handler, which parks it at the end of
	// the empty partition.
	waitFor(t, 10*time.Second, "the subscription to start", func() error {
		return is("subscriptions started", grpcMetric(t, b, "grpc_server_started_total", "Subscribe"), 1)
	})
	if err := b.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "following stream at shutdown", <-errs, codes.Unavailable)
}
