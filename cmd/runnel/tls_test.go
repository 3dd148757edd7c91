package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/internal/testcerts"
)

// TestTLSCommands runs runnel serve with mTLS (--tls-cert, --tls-key,
// --tls-client-ca) and the client commands against it: with the --tls-*
// flags, or their RUNNEL_TLS_* variables, they are served; in plaintext,
// trusting another CA or without a client certificate they are refused;
// a bad --tls-* file is an error naming its flag.
func TestTLSCommands(t *testing.T) {
	dir := t.TempDir()
	ca, other := testcerts.NewCA(t, "runnel test CA"), testcerts.NewCA(t, "another CA")
	caFile, otherFile := ca.WriteCA(t, dir, "ca.pem"), other.WriteCA(t, dir, "other.pem")
	brokerCert, brokerKey := ca.Broker(t, "broker").Write(t, dir, "broker")
	clientCert, clientKey := ca.Client(t, "alice").Write(t, dir, "alice")

	p := serveInProcess(t, "--tls-cert", brokerCert, "--tls-key", brokerKey, "--tls-client-ca", caFile)
	ready := p.addrs(t)
	ctx := context.Background()
	tlsArgs := []string{"--broker", ready.GRPC, "--tls-ca", caFile, "--tls-cert", clientCert, "--tls-key", clientKey}
	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	defer ccancel()
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := run(cctx, stdin, append(args, tlsArgs...)...)
		if err != nil {
			t.Fatalf("runnel %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), describeError(err), out, errOut)
		}
		return out + errOut
	}
	must("", "topic", "create", "orders", "--partitions", "1")
	if out := must("a\nb\n", "produce", "orders"); !strings.Contains(out, "produced 2 record(s) to orders") {
		t.Fatalf("produce: %q", out)
	}
	if out := must("", "consume", "orders", "--from", "earliest"); out != "a\nb\n" {
		t.Fatalf("consume: %q", out)
	}
	if out := must("", "health"); out != "SERVING\n" {
		t.Fatalf("health: %q", out)
	}
	if out := must("", "health", "--tls-server-name", "localhost"); out != "SERVING\n" {
		t.Fatalf("health with --tls-server-name localhost: %q", out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"plaintext", []string{"--broker", ready.GRPC}, "UNAVAILABLE"},
		{"trusting another CA", []string{"--broker", ready.GRPC, "--tls-ca", otherFile, "--tls-cert", clientCert, "--tls-key", clientKey}, "certificate signed by unknown authority"},
		{"no client certificate", []string{"--broker", ready.GRPC, "--tls-ca", caFile}, "UNAVAILABLE"},
		{"--tls: the system's CAs", []string{"--broker", ready.GRPC, "--tls"}, "certificate signed by unknown authority"},
		{"another server name", append(tlsArgs, "--tls-server-name", "elsewhere.example"), "not elsewhere.example"},
		{"missing CA file", []string{"--broker", ready.GRPC, "--tls-ca", filepath.Join(dir, "nope.pem")}, "--tls-ca: CA file: open"},
		{"certificate without key", []string{"--broker", ready.GRPC, "--tls-ca", caFile, "--tls-cert", clientCert}, "--tls-cert and --tls-key go together"},
		{"key of another certificate", []string{"--broker", ready.GRPC, "--tls-ca", caFile, "--tls-cert", clientCert, "--tls-key", brokerKey}, "--tls-cert/--tls-key:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{{"health", "--timeout", "5s"}, {"topic", "list"}} {
				_, _, err := run(cctx, "", append(cmd, tc.args...)...)
				if err == nil || !strings.Contains(describeError(err), tc.want) {
					t.Fatalf("runnel %s: %v, want an error saying %q", strings.Join(cmd, " "), err, tc.want)
				}
			}
		})
	}

	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("RUNNEL_BROKER", ready.GRPC)
		t.Setenv("RUNNEL_TLS_CA", caFile)
		t.Setenv("RUNNEL_TLS_CERT", clientCert)
		t.Setenv("RUNNEL_TLS_KEY", clientKey)
		if out, _, err := run(cctx, "", "health"); err != nil || out != "SERVING\n" {
			t.Fatalf("health: %q, %v", out, err)
		}
		if out, _, err := run(cctx, "", "topic", "list"); err != nil || !strings.Contains(out, "orders") {
			t.Fatalf("topic list: %q, %v", out, err)
		}
	})

	if err := p.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestServeTLSErrors: runnel serve refuses bad TLS files at start, naming
// the flag.
func TestServeTLSErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "runnel test CA")
	brokerCert, brokerKey := ca.Broker(t, "broker").Write(t, dir, "broker")
	_, otherKey := ca.Broker(t, "other").Write(t, dir, "other")
	base := []string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"certificate without key", []string{"--tls-cert", brokerCert}, "--tls-cert and --tls-key go together"},
		{"missing certificate", []string{"--tls-cert", filepath.Join(dir, "nope.crt"), "--tls-key", brokerKey}, "--tls-cert/--tls-key: certificate file: open"},
		{"key of another certificate", []string{"--tls-cert", brokerCert, "--tls-key", otherKey}, "private key does not match public key"},
		{"missing client CA", []string{"--tls-cert", brokerCert, "--tls-key", brokerKey, "--tls-client-ca", filepath.Join(dir, "nope.pem")}, "--tls-client-ca: CA file: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(context.Background(), "", append(base, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
