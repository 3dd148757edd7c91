package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/peer"
)

// TestClusterSecret: brokers sharing a secret form a cluster and forward
// to each other; a client that reaches a peer listener with generated
// stubs, without the secret, can neither send raft messages, nor join,
// nor forge a forwarded call past the ACLs: each is PERMISSION_DENIED.
func TestClusterSecret(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	const secret = "0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokers := startClusterWith(t, 3, func(c *Config) {
		c.ClusterSecretFile, c.Authorization = secretFile, true
	})
	// NB: no ACL and no superuser: a client is refused everything, on the
	// client listener as through a forged forwarded call.
	if _, err := brokers[0].client.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{Name: "t", Partitions: 3, ReplicationFactor: 3}); grpcstatus.Code(err) != codes.PermissionDenied {
		t.Fatalf("create a topic without an ACL: %v", err)
	}

	conn, err := grpc.NewClient(brokers[1].srv.PeerAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const refused = "this is the brokers' peer listener, which takes calls with the cluster's secret only"

	stream, err := raftv1.NewRaftServiceClient(conn).Stream(ctx)
	if err == nil {
		err = sendThenRecv(stream, &raftv1.StreamRequest{})
	}
	wantStatus(t, "a raft stream without the secret", err, codes.PermissionDenied, refused)
	_, err = raftv1.NewMembershipServiceClient(conn).Join(ctx, &raftv1.JoinRequest{NodeId: 9, Address: "x:1", PeerAddress: "x:2"})
	wantStatus(t, "a join without the secret", err, codes.PermissionDenied, refused)
	forged := metadata.AppendToOutgoingContext(ctx, peer.ForwardedHeader, "1")
	_, err = runnelv1.NewAdminServiceClient(conn).CreateTopic(forged, &runnelv1.CreateTopicRequest{Name: "t", Partitions: 1})
	wantStatus(t, "a forged forwarded call", err, codes.PermissionDenied, refused)
	_, err = runnelv1.NewAdminServiceClient(conn).CreateTopic(metadata.AppendToOutgoingContext(ctx, clusterSecretHeader, strings.Repeat("0", len(secret))),
		&runnelv1.CreateTopicRequest{Name: "t", Partitions: 1})
	wantStatus(t, "a wrong secret", err, codes.PermissionDenied, refused)

	// With the secret, the peer listener answers: it is the secret that
	// was missing.
	if _, err := runnelv1.NewAdminServiceClient(conn).DescribeCluster(metadata.AppendToOutgoingContext(ctx, clusterSecretHeader, secret),
		&runnelv1.DescribeClusterRequest{}); err != nil {
		t.Fatalf("DescribeCluster with the secret: %v", err)
	}
}
