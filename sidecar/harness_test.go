package sidecar_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server"
	"github.com/runnel-broker/runnel/sidecar"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// broker is an in-process single-node broker that can be stopped and
// started again at the same address and data directory.
type broker struct {
	t      testing.TB
	dir    string
	addr   string // fixed by the first start
	srv    *server.Server
	served chan error
}

func startBroker(t testing.TB) *broker {
	t.Helper()
	b := &broker{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lis net.Listener
	var err error
	// NB: the port the broker had: the sidecar's --upstream names it. A
	// listening socket just closed can be bound again at once.
	for range 50 {
		if lis, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Config{DataDir: b.dir, Listener: lis, PeerListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		RetentionCheckInterval: time.Second, Logger: quiet})
	if err != nil {
		b.t.Fatalf("start broker: %v", err)
	}
	b.srv, b.addr, b.served = srv, srv.Addr().String(), make(chan error, 1)
	go func() { b.served <- srv.Serve() }()
}

func (b *broker) stop() {
	if b.srv == nil {
		return
	}
	if err := b.srv.Shutdown(context.Background()); err != nil {
		b.t.Errorf("shutdown: %v", err)
	}
	<-b.served
	b.srv = nil
}

// stubs are the generated stubs on one connection.
type stubs struct {
	conn      *grpc.ClientConn
	admin     runnelv1.AdminServiceClient
	produce   runnelv1.ProduceServiceClient
	subscribe runnelv1.SubscribeServiceClient
	commit    runnelv1.CommitServiceClient
}

func dial(t testing.TB, addr string) *stubs {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &stubs{conn: conn, admin: runnelv1.NewAdminServiceClient(conn), produce: runnelv1.NewProduceServiceClient(conn),
		subscribe: runnelv1.NewSubscribeServiceClient(conn), commit: runnelv1.NewCommitServiceClient(conn)}
}

// startSidecar starts a sidecar on dir (a new one when "") in front of
// upstream.
func startSidecar(t testing.TB, dir string, spoolBytes int64, upstream ...string) *sidecar.Sidecar {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sidecar.Start(sidecar.Config{Upstream: upstream, Listener: lis, DataDir: dir, SpoolBytes: spoolBytes, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Shutdown(context.Background()) })
	return sc
}

// produce sends reqs pipelined on one stream and returns the responses.
func produce(t testing.TB, s *stubs, reqs ...*runnelv1.ProduceRequest) []*runnelv1.ProduceResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := s.produce.Produce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i, r := range reqs {
			r.CorrelationId = uint64(i + 1)
			if err := stream.Send(r); err != nil {
				return
			}
		}
		stream.CloseSend()
	}()
	var out []*runnelv1.ProduceResponse
	for range reqs {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
		out = append(out, resp)
	}
	return out
}

// produceOK is produce, failing the test on a response's error.
func produceOK(t testing.TB, s *stubs, reqs ...*runnelv1.ProduceRequest) {
	t.Helper()
	for i, resp := range produce(t, s, reqs...) {
		if resp.Error != nil {
			t.Fatalf("request %d: %v", i, resp.Error)
		}
	}
}

// readAll reads a partition of the topic from the broker, from offset 0
// to its end.
func readAll(t testing.TB, s *stubs, topic string, partition int32) []*runnelv1.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := s.subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: topic, Partitions: []int32{partition},
		StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST})
	if err != nil {
		t.Fatal(err)
	}
	var out []*runnelv1.Record
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("subscribe %s/%d: %v", topic, partition, err)
		}
		out = append(out, resp.GetBatch().GetRecords()...)
	}
}

// waitFor polls cond until it returns nil, failing the test after timeout
// with cond's last error.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
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

// drained is a waitFor condition: nothing waits in the sidecar's spool.
func drained(sc *sidecar.Sidecar) func() error {
	return func() error {
		if st := sc.Status(); st.RecordsWaiting != 0 {
			return fmt.Errorf("%d records waiting: %+v", st.RecordsWaiting, st.Partitions)
		}
		return nil
	}
}
