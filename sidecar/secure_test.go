package sidecar_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/testcerts"
	"github.com/runnel-broker/runnel/server"
	"github.com/runnel-broker/runnel/sidecar"
)

// TestSidecarToASecuredCluster: a sidecar reaches a broker that serves
// TLS and enforces ACLs, over TLS and with its own token. The
// application calls it in plaintext on localhost without credentials: its
// records are forwarded as the sidecar's principal, which the ACLs allow
// to produce to one topic; a topic they do not allow is refused at
// produce time, before anything is spooled.
func TestSidecarToASecuredCluster(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "test CA")
	certFile, keyFile := ca.Broker(t, "broker").Write(t, dir, "broker")
	tokens := filepath.Join(dir, "tokens")
	lines := server.TokenLine("User:admin", "admin-token") + "\n" + server.TokenLine("User:sidecar", "sidecar-token") + "\n"
	if err := os.WriteFile(tokens, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := server.New(ctx, server.Config{DataDir: filepath.Join(dir, "data"), Listener: lis, PeerListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		TLSCertFile: certFile, TLSKeyFile: keyFile, TokenFile: tokens, Authorization: true, Superusers: []string{"User:admin"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-served
	})

	roots := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(roots)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	admin := &stubs{conn: conn, admin: runnelv1.NewAdminServiceClient(conn), subscribe: runnelv1.NewSubscribeServiceClient(conn)}
	asAdmin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer admin-token")
	for _, name := range []string{"allowed", "forbidden"} {
		if _, err := admin.admin.CreateTopic(asAdmin, &runnelv1.CreateTopicRequest{Name: name, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.admin.CreateAcls(asAdmin, &runnelv1.CreateAclsRequest{Acls: []*runnelv1.Acl{{Principal: "User:sidecar",
		ResourceType: runnelv1.AclResourceType_ACL_RESOURCE_TYPE_TOPIC, ResourceName: "allowed", Operation: runnelv1.AclOperation_ACL_OPERATION_PRODUCE,
		Permission: runnelv1.AclPermission_ACL_PERMISSION_ALLOW}}}); err != nil {
		t.Fatal(err)
	}

	scLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sidecar.Start(sidecar.Config{Upstream: []string{srv.Addr().String()}, UpstreamTLS: roots, UpstreamToken: "sidecar-token",
		Listener: scLis, DataDir: t.TempDir(), SpoolBytes: 64 << 20, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Shutdown(context.Background()) })
	app := dial(t, sc.Addr())
	p := int32(0)
	var recs []*runnelv1.Record
	for range 10 {
		recs = append(recs, &runnelv1.Record{Value: []byte("v")})
	}
	produceOK(t, app, &runnelv1.ProduceRequest{Topic: "allowed", Partition: &p, Records: recs})
	resp := produce(t, app, &runnelv1.ProduceRequest{Topic: "forbidden", Partition: &p, Records: recs})[0]
	if resp.Error == nil || codes.Code(resp.Error.Code) != codes.PermissionDenied || !strings.Contains(resp.Error.Message, `"User:sidecar"`) {
		t.Fatalf("a produce to a topic the sidecar may not describe: %v, want PERMISSION_DENIED naming User:sidecar", resp.Error)
	}
	waitFor(t, 30*time.Second, "the spool to drain", drained(sc))
	stream, err := admin.subscribe.Subscribe(asAdmin, &runnelv1.SubscribeRequest{Topic: "allowed", StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		r, err := stream.Recv()
		if err != nil {
			break
		}
		n += len(r.GetBatch().GetRecords())
	}
	if n != 10 {
		t.Fatalf("%d records in the cluster, 10 acked by the sidecar", n)
	}
}
