package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	"github.com/runnel-broker/runnel/server/internal/peer"
)

// identifying serves MembershipService.Identify from a data directory
// holding cluster id (none if ""), and returns its address.
func identifying(t *testing.T, cluster string) string {
	t.Helper()
	dir := t.TempDir()
	if cluster != "" {
		if err := os.WriteFile(filepath.Join(dir, "cluster.id"), []byte(cluster), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	raftv1.RegisterMembershipServiceServer(s, &membershipService{dataDir: dir})
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// TestPeersCluster: a broker with a new data directory learns its
// cluster exists from any peer that says so, and takes it to be new only
// once all but quorum-1 of the others said none: counting its own empty
// directory, one peer's "none" would do for three brokers, and a broker
// whose disk was wiped while the only other holder of the data is down
// would start a second cluster.
func TestPeersCluster(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	down := downAddr(t)
	for _, tc := range []struct {
		name    string
		brokers map[int32]string
		want    string
		waits   bool
	}{
		{"one peer names the cluster", map[int32]string{1: "", 2: identifying(t, ""), 3: identifying(t, "c1")}, "c1", false},
		{"both others none", map[int32]string{1: "", 2: identifying(t, ""), 3: identifying(t, "")}, "", false},
		{"one none, one down", map[int32]string{1: "", 2: identifying(t, ""), 3: down}, "", true},
		{"five brokers, three none", map[int32]string{1: "", 2: identifying(t, ""), 3: identifying(t, ""), 4: identifying(t, ""), 5: down}, "", false},
		{"five brokers, two none", map[int32]string{1: "", 2: identifying(t, ""), 3: identifying(t, ""), 4: down, 5: down}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := peer.NewPool(nil, nil)
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got, err := peersCluster(ctx, p, tc.brokers, 1, logger)
			switch {
			case tc.waits && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("got %q, %v; want it still waiting for the peers", got, err)
			case !tc.waits && (err != nil || got != tc.want):
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// downAddr returns a loopback address nothing listens on, where a broker
// that is down would be: calls to it are refused at once. It holds the
// port until the test ends with a socket bound there that does not
// listen (the kernel refuses connections to it as to a closed port), so
// no other process can take it meanwhile, as one could a port chosen by
// a listener and closed.
func downAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}
