package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/testcerts"
	"github.com/runnel-broker/runnel/server/internal/authz"
	"github.com/runnel-broker/runnel/server/internal/tokens"
)

// as is a context whose calls carry token.
func as(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// startSecured starts a broker with a token file (admin, alice, bob),
// User:admin a superuser, and the ACLs enforced.
func startSecured(t *testing.T, anonymous bool) *testBroker {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	lines := []string{tokens.Line("User:admin", "t-admin"), tokens.Line("User:alice", "t-alice"), tokens.Line("User:bob", "t-bob")}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startBrokerWith(t, "", func(c *Config) {
		c.TokenFile, c.AllowAnonymous, c.Authorization, c.Superusers = path, anonymous, true, []string{"User:admin"}
	})
}

// wantStatus fails the test unless err has code and its message says msg.
func wantStatus(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), msg) {
		t.Fatalf("%s: %v, want %v saying %q", what, err, code, msg)
	}
}

// TestAuthentication: with a token file, a call needs one of its tokens;
// health and reflection need none; anonymous calls come in only when
// allowed.
func TestAuthentication(t *testing.T) {
	b := startSecured(t, false)
	adm := b.client.Admin
	_, err := adm.ListTopics(context.Background(), &runnelv1.ListTopicsRequest{})
	wantStatus(t, "no token", err, codes.Unauthenticated, `send gRPC metadata "authorization: Bearer TOKEN"`)
	_, err = adm.ListTopics(as("t-nobody"), &runnelv1.ListTopicsRequest{})
	wantStatus(t, "an unknown token", err, codes.Unauthenticated, "not one this broker knows")
	if _, err := adm.ListTopics(as("t-alice"), &runnelv1.ListTopicsRequest{}); err != nil {
		t.Fatalf("alice's token: %v", err)
	}
	if _, err := healthpb.NewHealthClient(b.client.Conn()).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health without a token: %v", err)
	}
	stream, err := b.client.Subscribe.Subscribe(context.Background(), &runnelv1.SubscribeRequest{Topic: "t"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantStatus(t, "a stream with no token", err, codes.Unauthenticated, "takes authenticated calls only")

	anon := startSecured(t, true)
	_, err = anon.client.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{Name: "t", Partitions: 1})
	wantStatus(t, "anonymous, allowed in, no ACL", err, codes.PermissionDenied, `principal "User:ANONYMOUS" is not allowed to create on topic "t"`)
}

// TestACLsEnforced: ACLs, literal and prefixed, allow and deny, decide
// what each principal may produce, consume, commit, create and list; the
// superuser may do anything; every denial names the principal, the
// operation and the resource, and is counted.
func TestACLsEnforced(t *testing.T) {
	b := startSecured(t, false)
	admin, alice, bob := as("t-admin"), as("t-alice"), as("t-bob")
	adm := b.client.Admin
	for _, name := range []string{"orders", "orders-eu", "logs"} {
		if _, err := adm.CreateTopic(admin, &runnelv1.CreateTopicRequest{Name: name, Partitions: 1}); err != nil {
			t.Fatalf("the superuser creates %s: %v", name, err)
		}
	}
	acl := func(principal string, rt runnelv1.AclResourceType, name string, pt runnelv1.AclPatternType, op runnelv1.AclOperation, perm runnelv1.AclPermission) *runnelv1.Acl {
		return &runnelv1.Acl{Principal: principal, ResourceType: rt, ResourceName: name, PatternType: pt, Operation: op, Permission: perm}
	}
	const (
		topic, group = runnelv1.AclResourceType_ACL_RESOURCE_TYPE_TOPIC, runnelv1.AclResourceType_ACL_RESOURCE_TYPE_GROUP
		lit, pre     = runnelv1.AclPatternType_ACL_PATTERN_TYPE_LITERAL, runnelv1.AclPatternType_ACL_PATTERN_TYPE_PREFIXED
		allow, deny  = runnelv1.AclPermission_ACL_PERMISSION_ALLOW, runnelv1.AclPermission_ACL_PERMISSION_DENY
	)
	_, err := adm.CreateAcls(alice, &runnelv1.CreateAclsRequest{Acls: []*runnelv1.Acl{acl("User:alice", topic, "*", lit, runnelv1.AclOperation_ACL_OPERATION_ALL, allow)}})
	wantStatus(t, "alice grants herself everything", err, codes.PermissionDenied, `principal "User:alice" is not allowed to alter on the cluster: no ACL allows it`)
	if _, err := adm.CreateAcls(admin, &runnelv1.CreateAclsRequest{Acls: []*runnelv1.Acl{
		acl("User:alice", topic, "orders", pre, runnelv1.AclOperation_ACL_OPERATION_PRODUCE, allow),
		acl("User:alice", topic, "orders", pre, runnelv1.AclOperation_ACL_OPERATION_CONSUME, allow),
		acl("User:alice", topic, "orders-eu", lit, runnelv1.AclOperation_ACL_OPERATION_CONSUME, deny),
		acl("User:alice", group, "app", lit, runnelv1.AclOperation_ACL_OPERATION_ALL, allow),
		acl("*", topic, "logs", lit, runnelv1.AclOperation_ACL_OPERATION_DESCRIBE, allow),
	}}); err != nil {
		t.Fatalf("the superuser creates ACLs: %v", err)
	}
	_, err = adm.CreateAcls(admin, &runnelv1.CreateAclsRequest{Acls: []*runnelv1.Acl{{Principal: "User:x", ResourceType: topic, ResourceName: "t"}}})
	wantStatus(t, "an ACL without operation", err, codes.InvalidArgument, "operation 0 is not one of")

	// Produce: per request, the others on the stream unaffected.
	p := int32(0)
	rec := []*runnelv1.Record{{Value: []byte("v")}}
	stream, err := b.client.Produce.Produce(alice)
	if err != nil {
		t.Fatal(err)
	}
	for i, topicName := range []string{"orders", "logs", "orders-eu"} {
		if err := stream.Send(&runnelv1.ProduceRequest{Topic: topicName, Partition: &p, Records: rec, CorrelationId: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		denied := resp.Error != nil && codes.Code(resp.Error.Code) == codes.PermissionDenied &&
			strings.Contains(resp.Error.Message, `principal "User:alice" is not allowed to produce on topic "logs": no ACL allows it`)
		if (i == 1) != denied || (i != 1 && resp.Error != nil) {
			t.Fatalf("alice's produce %d: %v", i, resp.Error)
		}
	}
	stream.CloseSend()

	consume := func(ctx context.Context, req *runnelv1.SubscribeRequest) error {
		s, err := b.client.Subscribe.Subscribe(ctx, req)
		if err != nil {
			return err
		}
		for {
			if _, err := s.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	if err := consume(alice, &runnelv1.SubscribeRequest{Topic: "orders", StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST}); err != nil {
		t.Fatalf("alice reads orders: %v", err)
	}
	err = consume(alice, &runnelv1.SubscribeRequest{Topic: "orders-eu"})
	wantStatus(t, "alice reads orders-eu, denied by a literal deny over a prefixed allow", err, codes.PermissionDenied,
		`an ACL denies it: deny User:alice consume on topic "orders-eu"`)
	err = consume(bob, &runnelv1.SubscribeRequest{Topic: "orders"})
	wantStatus(t, "bob reads orders", err, codes.PermissionDenied, `principal "User:bob" is not allowed to consume on topic "orders"`)
	err = consume(alice, &runnelv1.SubscribeRequest{Topic: "orders", Group: "other"})
	wantStatus(t, "alice joins a group she has no ACL on", err, codes.PermissionDenied, `consume on group "other"`)

	_, err = b.client.Commit.Commit(alice, &runnelv1.CommitRequest{Group: "app", Topic: "orders", Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: 1}}})
	if err != nil {
		t.Fatalf("alice commits in app: %v", err)
	}
	_, err = b.client.Commit.Commit(bob, &runnelv1.CommitRequest{Group: "app", Topic: "orders", Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: 1}}})
	wantStatus(t, "bob commits in app", err, codes.PermissionDenied, `commit on group "app"`)

	// Lists show what the principal may describe.
	names := func(ctx context.Context) []string {
		resp, err := adm.ListTopics(ctx, &runnelv1.ListTopicsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, t := range resp.Topics {
			out = append(out, t.Name)
		}
		slices.Sort(out)
		return out
	}
	for ctx, want := range map[string][]string{"t-admin": {"logs", "orders", "orders-eu"}, "t-alice": {"logs", "orders", "orders-eu"}, "t-bob": {"logs"}} {
		if got := names(as(ctx)); !slices.Equal(got, want) {
			t.Errorf("%s lists %v, want %v", ctx, got, want)
		}
	}

	// Deleting an ACL takes effect.
	resp, err := adm.DeleteAcls(admin, &runnelv1.DeleteAclsRequest{Filters: []*runnelv1.AclFilter{{Principal: "User:alice", Permission: deny}}})
	if err != nil || len(resp.Deleted) != 1 || resp.Deleted[0].ResourceName != "orders-eu" {
		t.Fatalf("delete alice's deny: %v, %v", resp, err)
	}
	if err := consume(alice, &runnelv1.SubscribeRequest{Topic: "orders-eu"}); err != nil {
		t.Fatalf("alice reads orders-eu once the deny is gone: %v", err)
	}
	list, err := adm.ListAcls(admin, &runnelv1.ListAclsRequest{Filter: &runnelv1.AclFilter{Principal: "User:alice"}})
	if err != nil || len(list.Acls) != 3 {
		t.Fatalf("alice's ACLs: %v, %v", list, err)
	}

	metrics, err := http.Get("http://" + b.srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer metrics.Body.Close()
	body, _ := io.ReadAll(metrics.Body)
	if !strings.Contains(string(body), `runnel_authorization_denied_total{operation="consume",resource_type="topic"} 2`) {
		t.Errorf("/metrics does not count the 2 consume denials:\n%s", grepLines(string(body), "runnel_authorization"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestEveryMethodHasAnAuthorizationRule: a new RPC cannot be served
// without a decision on what it needs.
func TestEveryMethodHasAnAuthorizationRule(t *testing.T) {
	for _, sd := range []grpc.ServiceDesc{runnelv1.AdminService_ServiceDesc, runnelv1.ProduceService_ServiceDesc,
		runnelv1.SubscribeService_ServiceDesc, runnelv1.CommitService_ServiceDesc} {
		var methods []string
		for _, m := range sd.Methods {
			methods = append(methods, m.MethodName)
		}
		for _, s := range sd.Streams {
			methods = append(methods, s.StreamName)
		}
		for _, m := range methods {
			if _, ok := rules["/"+sd.ServiceName+"/"+m]; !ok {
				t.Errorf("%s/%s has no authorization rule", sd.ServiceName, m)
			}
		}
	}
}

// TestACLEnumsAreRunnelV1s: authz's numbers are the API's, which the
// conversions rely on.
func TestACLEnumsAreRunnelV1s(t *testing.T) {
	pairs := []struct {
		got  int32
		name string
		want int32
	}{
		{int32(authz.Topic), "topic", int32(runnelv1.AclResourceType_ACL_RESOURCE_TYPE_TOPIC)},
		{int32(authz.Group), "group", int32(runnelv1.AclResourceType_ACL_RESOURCE_TYPE_GROUP)},
		{int32(authz.Cluster), "cluster", int32(runnelv1.AclResourceType_ACL_RESOURCE_TYPE_CLUSTER)},
		{int32(authz.Literal), "literal", int32(runnelv1.AclPatternType_ACL_PATTERN_TYPE_LITERAL)},
		{int32(authz.Prefixed), "prefixed", int32(runnelv1.AclPatternType_ACL_PATTERN_TYPE_PREFIXED)},
		{int32(authz.All), "all", int32(runnelv1.AclOperation_ACL_OPERATION_ALL)},
		{int32(authz.Produce), "produce", int32(runnelv1.AclOperation_ACL_OPERATION_PRODUCE)},
		{int32(authz.Consume), "consume", int32(runnelv1.AclOperation_ACL_OPERATION_CONSUME)},
		{int32(authz.Create), "create", int32(runnelv1.AclOperation_ACL_OPERATION_CREATE)},
		{int32(authz.Delete), "delete", int32(runnelv1.AclOperation_ACL_OPERATION_DELETE)},
		{int32(authz.Alter), "alter", int32(runnelv1.AclOperation_ACL_OPERATION_ALTER)},
		{int32(authz.Describe), "describe", int32(runnelv1.AclOperation_ACL_OPERATION_DESCRIBE)},
		{int32(authz.Commit), "commit", int32(runnelv1.AclOperation_ACL_OPERATION_COMMIT)},
		{int32(authz.Allow), "allow", int32(runnelv1.AclPermission_ACL_PERMISSION_ALLOW)},
		{int32(authz.Deny), "deny", int32(runnelv1.AclPermission_ACL_PERMISSION_DENY)},
	}
	for _, p := range pairs {
		if p.got != p.want {
			t.Errorf("%s is %d in authz, %d in runnel.v1", p.name, p.got, p.want)
		}
	}
}

// TestCertificatePrincipal: over mTLS, a call without a token is its
// client certificate's principal, User:COMMON-NAME by default, or by
// --tls-principal its subject or its first DNS SAN, which the ACLs name.
func TestCertificatePrincipal(t *testing.T) {
	f := newTLSFiles(t)
	b := startBrokerWith(t, "", func(c *Config) {
		f.serverTLS(true)(c)
		c.Authorization = true
	})
	useTLSClient(t, b, clientConfig(t, f.ca.Pool(), f.clientCert, f.clientKey))
	_, err := b.client.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{Name: "t", Partitions: 1})
	wantStatus(t, "alice's certificate, no ACL", err, codes.PermissionDenied, `principal "User:alice" is not allowed to create on topic "t"`)

	// --tls-principal names it by another part of the certificate.
	dnsCert, dnsKey := f.ca.Issue(t, testcerts.Options{CommonName: "alice", DNSNames: []string{"billing.clients.example"}}).Write(t, f.dir, "alice-dns")
	for mode, want := range map[string]string{"subject": "User:CN=alice", "san-dns": "User:billing.clients.example"} {
		b := startBrokerWith(t, "", func(c *Config) {
			f.serverTLS(true)(c)
			c.Authorization, c.TLSPrincipal = true, mode
		})
		useTLSClient(t, b, clientConfig(t, f.ca.Pool(), dnsCert, dnsKey))
		_, err := b.client.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{Name: "t", Partitions: 1})
		wantStatus(t, "--tls-principal "+mode, err, codes.PermissionDenied, fmt.Sprintf("principal %q is not allowed", want))
	}
	_, err = New(context.Background(), Config{DataDir: t.TempDir(), TLSPrincipal: "email"})
	if err == nil || !strings.Contains(err.Error(), `--tls-principal "email": use one of cn, subject, san-dns, san-uri, san-email`) {
		t.Fatalf("a bad --tls-principal: %v", err)
	}
	_, err = New(context.Background(), Config{DataDir: t.TempDir(), TLSPrincipalRules: "RULE:^CN=(.*$/$1/"})
	if err == nil || !strings.Contains(err.Error(), `--tls-principal-rules: rule 1: pattern "^CN=(.*$"`) {
		t.Fatalf("a bad --tls-principal-rules: %v", err)
	}
}

// TestCertificatePrincipalRules: Kafka's mapping rules, over real mTLS,
// name a service's certificate by its subject, and refuse a certificate
// that none matches (UNAUTHENTICATED) rather than letting it in under
// another name.
func TestCertificatePrincipalRules(t *testing.T) {
	f := newTLSFiles(t)
	b := startBrokerWith(t, "", func(c *Config) {
		f.serverTLS(true)(c)
		c.Authorization, c.TLSPrincipal = true, "subject"
		c.TLSPrincipalRules = `RULE:^CN=([^,]+),OU=ServiceUsers$/svc-$1/L, RULE:^CN=([^,]+)$/$1/`
	})
	for _, tc := range []struct {
		cert testcerts.Options
		want string
	}{
		{testcerts.Options{CommonName: "Billing", OrganizationalUnits: []string{"ServiceUsers"}}, "User:svc-billing"},
		{testcerts.Options{CommonName: "alice"}, "User:alice"},
	} {
		cert, key := f.ca.Issue(t, tc.cert).Write(t, f.dir, tc.cert.CommonName)
		useTLSClient(t, b, clientConfig(t, f.ca.Pool(), cert, key))
		_, err := b.client.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{Name: "t", Partitions: 1})
		wantStatus(t, tc.cert.CommonName, err, codes.PermissionDenied, fmt.Sprintf("principal %q is not allowed", tc.want))
	}
	cert, key := f.ca.Issue(t, testcerts.Options{CommonName: "mallory", OrganizationalUnits: []string{"Admins"}}).Write(t, f.dir, "mallory")
	useTLSClient(t, b, clientConfig(t, f.ca.Pool(), cert, key))
	_, err := b.client.Admin.ListTopics(context.Background(), &runnelv1.ListTopicsRequest{})
	wantStatus(t, "a certificate no rule matches", err, codes.Unauthenticated,
		`the client certificate's subject "CN=mallory,OU=Admins" matches none of the principal mapping rules (--tls-principal, --tls-principal-rules)`)
}

// TestStreamsPerPrincipal: a principal at its limit of open streams, over
// several connections, is refused another, RESOURCE_EXHAUSTED; another
// principal is not; a stream that ends frees its place.
func TestStreamsPerPrincipal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(tokens.Line("User:alice", "t-alice")+"\n"+tokens.Line("User:bob", "t-bob")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBrokerWith(t, "", func(c *Config) { c.TokenFile, c.MaxStreamsPerPrincipal = path, 2 })
	if _, err := b.client.Admin.CreateTopic(as("t-alice"), &runnelv1.CreateTopicRequest{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	// open starts a produce stream on a connection of its own and returns
	// it once the broker answered a request on it: it is open and counted.
	p := int32(0)
	open := func(token string) (runnelv1.ProduceService_ProduceClient, error) {
		t.Helper()
		c, err := client.Dial(b.srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s, err := c.Produce.Produce(as(token))
		if err != nil {
			return nil, err
		}
		return s, sendThenRecv(s, &runnelv1.ProduceRequest{Topic: "t", Partition: &p, Records: []*runnelv1.Record{{Value: []byte("v")}}})
	}
	first, err := open("t-alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open("t-alice"); err != nil {
		t.Fatal(err)
	}
	_, err = open("t-alice")
	wantStatus(t, "alice's third stream", err, codes.ResourceExhausted, `principal "User:alice" has 2 streams open on this broker, its limit`)
	if _, err := open("t-bob"); err != nil {
		t.Fatalf("bob's first stream: %v", err)
	}
	// NB: the end of a stream reaches the client once the broker's
	// handler, and the count, are done with it.
	first.CloseSend()
	if _, err := first.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("the end of alice's first stream: %v", err)
	}
	if _, err := open("t-alice"); err != nil {
		t.Fatalf("alice's stream once one ended: %v", err)
	}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// writeJWKS writes a key set of one new key, kid k1, to path, and
// returns the key.
func writeJWKS(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	key := newKey(t)
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: string(jose.ES256), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, set, 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestJWTPrincipal: a JWT that the JWKS file's key signed, current, from
// the issuer for the audience, authenticates its subject; an expired one,
// or one signed by another key, is UNAUTHENTICATED saying why.
func TestJWTPrincipal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	key, other := writeJWKS(t, path), newKey(t)
	b := startBrokerWith(t, "", func(c *Config) {
		c.JWKSFile, c.JWTIssuer, c.JWTAudience, c.Authorization = path, "https://idp.example", "runnel", true
	})
	sign := func(k *ecdsa.PrivateKey, exp time.Time) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(signer).Claims(jwt.Claims{Subject: "carol", Issuer: "https://idp.example", Audience: jwt.Audience{"runnel"},
			Expiry: jwt.NewNumericDate(exp)}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	_, err := b.client.Admin.CreateTopic(as(sign(key, time.Now().Add(time.Hour))), &runnelv1.CreateTopicRequest{Name: "t", Partitions: 1})
	wantStatus(t, "carol's JWT, no ACL", err, codes.PermissionDenied, `principal "User:carol" is not allowed to create on topic "t"`)
	_, err = b.client.Admin.ListTopics(as(sign(key, time.Now().Add(-time.Hour))), &runnelv1.ListTopicsRequest{})
	wantStatus(t, "an expired JWT", err, codes.Unauthenticated, "a JWT this broker does not take")
	_, err = b.client.Admin.ListTopics(as(sign(other, time.Now().Add(time.Hour))), &runnelv1.ListTopicsRequest{})
	wantStatus(t, "a JWT of another key", err, codes.Unauthenticated, "signature does not verify")
	_, err = b.client.Admin.ListTopics(context.Background(), &runnelv1.ListTopicsRequest{})
	wantStatus(t, "no token", err, codes.Unauthenticated, "takes authenticated calls only")
}

// TestReloadMetric: runnel_last_reload_successful is 1 for the token file
// and the JWKS file while the broker uses their content, 0 once either no
// longer loads (a token removed from it is then not revoked yet), and 1
// again once it loads.
func TestReloadMetric(t *testing.T) {
	dir := t.TempDir()
	tokenFile, jwksFile := filepath.Join(dir, "tokens"), filepath.Join(dir, "jwks.json")
	writeJWKS(t, jwksFile)
	if err := os.WriteFile(tokenFile, []byte(tokens.Line("User:alice", "t-alice")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBrokerWith(t, "", func(c *Config) { c.TokenFile, c.JWKSFile = tokenFile, jwksFile })
	want := func(flag string, v float64) {
		t.Helper()
		series := `runnel_last_reload_successful{flag="` + flag + `"}`
		waitFor(t, 10*time.Second, series+" to be "+fmt.Sprint(v), func() error {
			if got, ok := scrape(t, b)[series]; !ok || got != v {
				return fmt.Errorf("%s is %v (there: %v)", series, got, ok)
			}
			return nil
		})
	}
	want("token-file", 1)
	want("jwt-jwks-file", 1)
	if err := os.WriteFile(tokenFile, []byte("not a token line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want("token-file", 0)
	want("jwt-jwks-file", 1)
	if err := os.WriteFile(tokenFile, []byte(tokens.Line("User:bob", "t-bob")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want("token-file", 1)
	if err := os.WriteFile(jwksFile, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	want("jwt-jwks-file", 0)
}
