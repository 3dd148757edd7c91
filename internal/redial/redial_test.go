package redial_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/runnel-broker/runnel/internal/redial"
)

// boundSocket is a TCP socket bound to a free port of 127.0.0.1 but not
// listening: a dial to it is refused, as to a broker that is down, and
// the port stays ours until listen brings the broker back.
func boundSocket(t *testing.T) (fd int, addr string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}).String()
}

// listen makes the bound socket a listener serving gRPC health.
func listen(t *testing.T, fd int) {
	t.Helper()
	if err := unix.Listen(fd, 128); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "broker")
	lis, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
}

// TestBrokerBackAfterAnOutageIsReachedWithinASecond: a client that kept
// calling a broker down for 20 s reaches it within a few seconds of its
// return. With gRPC's default backoff the dial after 20 s of refusals
// comes about 6 s later (1, 1.6, 2.6, 4.1, 6.6, 10.5 s between dials),
// and after minutes of them up to 120 s later.
func TestBrokerBackAfterAnOutageIsReachedWithinASecond(t *testing.T) {
	fd, addr := boundSocket(t)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), redial.Option())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	check := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if err := check(); err == nil {
			t.Fatal("a call succeeded while nothing listened")
		}
	}
	listen(t, fd)
	back := time.Now()
	for check() != nil {
		if time.Since(back) > 3*time.Second {
			t.Fatalf("the broker was back for %v and calls still failed: the reconnect backoff is not capped near %v", time.Since(back), redial.MaxDelay)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("reached %v after the broker came back", time.Since(back).Round(time.Millisecond))
}
