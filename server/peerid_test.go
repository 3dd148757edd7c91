package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcstatus "google.golang.org/grpc/status"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/testcerts"
)

// TestPeerCertificateIsBoundToNodeID: three brokers on 127.0.0.1, .2 and
// .3, each with a certificate valid for its own address only, verify each
// other with a peer CA and form a cluster. A caller holding broker 3's
// certificate (a good one of the peer CA) cannot open a raft stream as
// broker 1, nor join as a new broker at broker 1's address: each is
// PERMISSION_DENIED saying its certificate is not valid for that address.
// With broker 1's certificate, the same stream is taken. A client's
// certificate of the same CA is refused on the peer listener altogether.
func TestPeerCertificateIsBoundToNodeID(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "peer CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	peers := map[int32]string{}
	var peerLis []net.Listener
	pairs := make([]*testcerts.Pair, 3)
	for i := range 3 {
		ip := net.IPv4(127, 0, 0, byte(i+1))
		lis, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		peerLis = append(peerLis, lis)
		peers[int32(i+1)] = lis.Addr().String()
		pairs[i] = ca.Issue(t, testcerts.Options{CommonName: fmt.Sprintf("broker-%d", i+1), IPs: []net.IP{ip}})
	}
	brokers := make([]*Server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		cert, key := pairs[i].Write(t, dir, fmt.Sprintf("broker-%d", i+1))
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			brokers[i], errs[i] = New(ctx, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
				PeerListen: peers[int32(i+1)], PeerListener: peerLis[i], NodeID: int32(i + 1), Peers: peers,
				TLSCertFile: cert, TLSKeyFile: key, TLSPeerCAFile: caFile, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("broker %d: %v", i+1, err)
		}
		srv := brokers[i]
		served := make(chan error, 1)
		go func() { served <- srv.Serve() }()
		t.Cleanup(func() {
			srv.Shutdown(context.Background())
			<-served
		})
	}

	// dial reaches broker 2's peer listener holding pair.
	dial := func(pair *testcerts.Pair) *grpc.ClientConn {
		t.Helper()
		cfg := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{pair.TLS(t)}, MinVersion: tls.VersionTLS12}
		conn, err := grpc.NewClient(peers[2], grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	streamAs := func(conn *grpc.ClientConn, from uint64) error {
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		defer scancel()
		s, err := raftv1.NewRaftServiceClient(conn).Stream(sctx)
		if err != nil {
			return err
		}
		return sendThenRecv(s, &raftv1.StreamRequest{Batch: &raftv1.Batch{From: from}})
	}
	impostor := dial(pairs[2])
	wantStatus(t, "broker 3's certificate, as broker 1", streamAs(impostor, 1), codes.PermissionDenied,
		`a caller claiming to be broker 1 presented a certificate ("broker-3") that is not valid for its peer address `+peers[1])
	_, err := raftv1.NewMembershipServiceClient(impostor).Join(ctx, &raftv1.JoinRequest{NodeId: 9, Address: "127.0.0.1:1", PeerAddress: peers[1]})
	wantStatus(t, "broker 3's certificate, joining at broker 1's address", err, codes.PermissionDenied, "not valid for its peer address")
	// A client's certificate of the same CA names no broker's address: it
	// cannot call the peer listener (to forward a call past the ACLs,
	// say); a broker's can.
	client := dial(ca.Client(t, "alice"))
	_, err = runnelv1.NewAdminServiceClient(client).DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
	wantStatus(t, "a client's certificate on the peer listener", err, codes.PermissionDenied, `the caller's certificate ("alice") is valid for no broker's peer address`)
	if _, err := runnelv1.NewAdminServiceClient(impostor).DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{}); err != nil {
		t.Fatalf("a broker's certificate on the peer listener: %v", err)
	}
	// NB: the stream is taken: it ends when its deadline does, not at once.
	if err := streamAs(dial(pairs[0]), 1); grpcstatus.Code(err) == codes.PermissionDenied {
		t.Fatalf("broker 1's certificate, as broker 1: %v", err)
	}
}
