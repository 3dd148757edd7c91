package sidecar_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

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

// TestSidecarServesMTLS: a sidecar given a certificate and a client CA
// serves gRPC and HTTP over TLS, to applications presenting a
// certificate of that CA only: one of another CA, or none, or plaintext,
// is refused at the handshake.
func TestSidecarServesMTLS(t *testing.T) {
	b := startBroker(t)
	createTopic(t, dial(t, b.addr), "events", 1, nil)
	dir := t.TempDir()
	ca, other := testcerts.NewCA(t, "pod CA"), testcerts.NewCA(t, "another CA")
	certFile, keyFile := ca.Broker(t, "sidecar").Write(t, dir, "sidecar")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sidecar.Start(sidecar.Config{Upstream: []string{b.addr}, Listener: lis, HTTPListener: httpLis, DataDir: t.TempDir(), SpoolBytes: 64 << 20,
		TLSCertFile: certFile, TLSKeyFile: keyFile, TLSClientCAFile: caFile, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Shutdown(context.Background()) })

	dialTLS := func(cert *testcerts.Pair) *stubs {
		t.Helper()
		c := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if cert != nil {
			c.Certificates = []tls.Certificate{cert.TLS(t)}
		}
		conn, err := grpc.NewClient(sc.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(c)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return &stubs{conn: conn, admin: runnelv1.NewAdminServiceClient(conn), produce: runnelv1.NewProduceServiceClient(conn)}
	}
	app := dialTLS(ca.Client(t, "app"))
	var p0 int32
	produceOK(t, app, &runnelv1.ProduceRequest{Topic: "events", Partition: &p0, Records: []*runnelv1.Record{{Value: []byte("over mTLS")}}})
	waitFor(t, 30*time.Second, "the record forwarded", drained(sc))
	if got := readAll(t, dial(t, b.addr), "events", 0); len(got) != 1 || string(got[0].Value) != "over mTLS" {
		t.Fatalf("the broker has %v", got)
	}

	for name, s := range map[string]*stubs{
		"a certificate of another CA": dialTLS(other.Client(t, "stranger")),
		"no certificate":              dialTLS(nil),
		"plaintext":                   dial(t, sc.Addr()),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := s.admin.ListTopics(ctx, &runnelv1.ListTopicsRequest{})
		cancel()
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v, want UNAVAILABLE (refused at the handshake)", name, err)
		}
	}

	httpsGet := func(cert *testcerts.Pair) error {
		c := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if cert != nil {
			c.Certificates = []tls.Certificate{cert.TLS(t)}
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
		resp, err := client.Get("https://" + httpLis.Addr().String() + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
	if err := httpsGet(ca.Client(t, "app")); err != nil {
		t.Fatalf("/healthz over mTLS: %v", err)
	}
	if err := httpsGet(nil); err == nil {
		t.Fatal("/healthz without a client certificate answered")
	}
}

// TestSidecarTLSErrors: bad TLS settings stop the start, naming the flag.
func TestSidecarTLSErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "pod CA")
	certFile, keyFile := ca.Broker(t, "sidecar").Write(t, dir, "sidecar")
	for _, tc := range []struct {
		cfg  sidecar.Config
		want string
	}{
		{sidecar.Config{TLSCertFile: certFile}, "--tls-cert and --tls-key go together"},
		{sidecar.Config{TLSClientCAFile: certFile}, "--tls-client-ca needs --tls-cert and --tls-key"},
		{sidecar.Config{TLSCertFile: certFile, TLSKeyFile: filepath.Join(dir, "nope.key")}, "--tls-cert/--tls-key: key file: open"},
		{sidecar.Config{TLSCertFile: certFile, TLSKeyFile: keyFile, TLSClientCAFile: filepath.Join(dir, "nope.pem")}, "--tls-client-ca: CA file: open"},
	} {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tc.cfg.Upstream, tc.cfg.Listener, tc.cfg.DataDir, tc.cfg.SpoolBytes, tc.cfg.Logger = []string{"127.0.0.1:1"}, lis, t.TempDir(), 1<<20, quiet
		_, err = sidecar.Start(tc.cfg)
		lis.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.want, err, tc.want)
		}
	}
}
