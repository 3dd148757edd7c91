package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// testBroker is a real server on 127.0.0.1:0 over a real directory.
type testBroker struct {
	t      *testing.T
	cfg    Config // in a cluster (startCluster), to start it again
	dir    string
	srv    *Server
	client *client.Client
	served chan error
}

func startBroker(t *testing.T, dir string) *testBroker {
	t.Helper()
	return startBrokerWith(t, dir, nil)
}

// startBrokerWith starts a broker whose Config change adjusts (nil: none).
func startBrokerWith(t *testing.T, dir string, change func(*Config)) *testBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{
		DataDir:                dir,
		Listen:                 "127.0.0.1:0",
		PeerListen:             "127.0.0.1:0",
		HTTPListen:             "127.0.0.1:0",
		RetentionCheckInterval: 50 * time.Millisecond,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if change != nil {
		change(&cfg)
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	b := &testBroker{t: t, dir: dir, srv: srv, served: make(chan error, 1)}
	go func() { b.served <- srv.Serve() }()
	b.client, err = client.Dial(srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	return b
}

// stop shuts the broker down; calling it twice is fine.
func (b *testBroker) stop() {
	if b.srv == nil {
		return
	}
	b.client.Close()
	if err := b.srv.Shutdown(context.Background()); err != nil {
		b.t.Errorf("shutdown: %v", err)
	}
	if err := <-b.served; err != nil {
		b.t.Errorf("serve: %v", err)
	}
	b.srv = nil
}

func (b *testBroker) createTopic(name string, partitions int32, config map[string]string) {
	b.t.Helper()
	_, err := b.client.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{
		Name: name, Partitions: partitions, Config: config,
	})
	if err != nil {
		b.t.Fatalf("create topic %s: %v", name, err)
	}
}

// produce sends one request on a new stream and returns its response.
func (b *testBroker) produce(req *runnelv1.ProduceRequest) *runnelv1.ProduceResponse {
	b.t.Helper()
	resps := b.produceAll(req)
	return resps[0]
}

// produceAll pipelines requests on one stream and returns the responses.
func (b *testBroker) produceAll(reqs ...*runnelv1.ProduceRequest) []*runnelv1.ProduceResponse {
	b.t.Helper()
	stream, err := b.client.Produce.Produce(context.Background())
	if err != nil {
		b.t.Fatal(err)
	}
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		b.t.Fatal(err)
	}
	var out []*runnelv1.ProduceResponse
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.t.Fatal(err)
		}
		out = append(out, resp)
	}
	if len(out) != len(reqs) {
		b.t.Fatalf("%d responses to %d requests", len(out), len(reqs))
	}
	return out
}

// mustAck fails the test if resp carries an error.
func mustAck(t *testing.T, resp *runnelv1.ProduceResponse) []*runnelv1.ProduceAck {
	t.Helper()
	if resp.Error != nil {
		t.Fatalf("produce failed: %v", status.ErrorProto(resp.Error))
	}
	return resp.Acks
}

// readAll subscribes without follow and returns every record by partition.
func (b *testBroker) readAll(req *runnelv1.SubscribeRequest) (map[int32][]*runnelv1.Record, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := b.client.Subscribe.Subscribe(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[int32][]*runnelv1.Record{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if resp.Batch == nil { // a group member's assignment
			continue
		}
		out[resp.Batch.Partition] = append(out[resp.Batch.Partition], resp.Batch.Records...)
	}
}

func values(recs []*runnelv1.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func records(vals ...string) []*runnelv1.Record {
	out := make([]*runnelv1.Record, len(vals))
	for i, v := range vals {
		out[i] = &runnelv1.Record{Value: []byte(v)}
	}
	return out
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: got %v (%v), want %v", what, got, err, want)
	}
}

// waitFor polls cond until it returns nil, and fails the test if it has
// not within timeout, saying what it waited for and cond's last error
// (which should say what it saw instead). It polls every 10ms at first,
// backing off to every 100ms: a condition that calls a broker does not
// load it much, one that reads a counter is seen at once.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: still %v", timeout, what, err)
		}
		time.Sleep(pause)
	}
}

// is is a waitFor condition: nil once got is want, else an error saying
// what got is.
func is[T comparable](name string, got, want T) error {
	if got != want {
		return fmt.Errorf("%s %v, want %v", name, got, want)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// sendThenRecv sends req on a stream and returns what the broker answers:
// a broker that refuses the stream may do so before Send or after it,
// and Send then fails with io.EOF while the status comes from Recv
// (grpc-go's ClientStream.SendMsg).
func sendThenRecv[Req, Resp any](s grpc.BidiStreamingClient[Req, Resp], req *Req) error {
	if err := s.Send(req); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err := s.Recv()
	return err
}
