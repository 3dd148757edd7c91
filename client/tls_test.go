package client_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/testcerts"
)

// TestWithTLS runs a broker requiring client certificates (runnel serve
// --tls-client-ca): with WithTLS, the client's metadata calls, producer
// and consumer are served; without it, or without a client certificate,
// New fails.
func TestWithTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "runnel test CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	brokerCert, brokerKey := ca.Broker(t, "broker").Write(t, dir, "broker")
	b := startBroker(t, "--tls-cert", brokerCert, "--tls-key", brokerKey, "--tls-client-ca", caFile)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	good := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.Client(t, "alice").TLS(t)}, ServerName: "localhost"}
	c, err := client.New(ctx, []string{b.addr}, client.WithTLS(good))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "secure", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p := c.Producer()
	for _, v := range []string{"a", "b"} {
		if _, err := p.ProduceSync(ctx, &client.Record{Topic: "secure", Key: []byte(v), Value: []byte(v)}); err != nil {
			t.Fatalf("produce over TLS: %v", err)
		}
	}
	p.Close()
	k, err := c.Consumer(ctx, client.WithGroup("g"), client.WithTopics("secure"), client.WithResetOffset(client.ResetEarliest))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	seen := map[string]bool{}
	for rec, err := range k.Records(ctx) {
		if err != nil {
			t.Fatalf("consume over TLS: %v", err)
		}
		if seen[string(rec.Value)] = true; len(seen) == 2 {
			break
		}
	}

	// A broker whose certificate the client does not trust is passed
	// over for the next one: brokers' certificates are their own.
	other := testcerts.NewCA(t, "another CA")
	otherCert, otherKey := other.Broker(t, "stranger").Write(t, dir, "stranger")
	stranger := startBroker(t, "--tls-cert", otherCert, "--tls-key", otherKey)
	c2, err := client.New(ctx, []string{stranger.addr, b.addr}, client.WithTLS(good), client.WithRequestTimeout(time.Hour))
	if err != nil {
		t.Fatalf("a broker of another CA listed first: %v", err)
	}
	c2.Close()

	for _, tc := range []struct {
		name string
		opts []client.Option
		// refusal is what a TLS refusal says; from every broker, it fails
		// New at once, as a refused credential does (Kafka's
		// SslAuthenticationException is not retried either). "": no TLS
		// answer, retried till the timeout.
		refusal string
	}{
		{"plaintext", []client.Option{client.WithRequestTimeout(2 * time.Second)}, ""}, // NB: this timeout, given later, wins over the hour
		{"no client certificate", []client.Option{client.WithTLS(&tls.Config{RootCAs: ca.Pool()})}, "tls: certificate required"},
		{"system roots", []client.Option{client.WithTLS(nil)}, "x509: certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// NB: a request timeout longer than the context: only a refusal
			// taken at once returns before the context ends.
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := client.New(ctx, []string{b.addr}, append([]client.Option{client.WithRequestTimeout(time.Hour)}, tc.opts...)...)
			if err == nil {
				c.Close()
				t.Fatal("connected, want refused")
			}
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("got %v, want UNAVAILABLE", err)
			}
			if tc.refusal != "" && (!strings.Contains(err.Error(), tc.refusal) || ctx.Err() != nil) {
				t.Fatalf("got %v (the context: %v), want the refusal %q at once", err, ctx.Err(), tc.refusal)
			}
		})
	}
}
