package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/internal/testcerts"
)

// TestSidecarOverMTLS, as an operator would: runnel sidecar on a
// certificate with a client CA; an application's runnel produce and
// consume reach the cluster through it with a client certificate, and
// runnel sidecar status reads its backlog over HTTPS; without a
// certificate, both are refused.
func TestSidecarOverMTLS(t *testing.T) {
	broker, _ := serveProcess(t)
	if _, _, err := run(context.Background(), "", "topic", "create", "events", "--partitions", "1", "--broker", broker); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "pod CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := ca.Broker(t, "sidecar").Write(t, dir, "sidecar")
	appCert, appKey := ca.Client(t, "app").Write(t, dir, "app")

	p := startInProcess(t, "sidecar", "--upstream", broker, "--data-dir", filepath.Join(dir, "spool"),
		"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", caFile)
	ready := p.addrs(t)
	if !strings.Contains(p.stderr.String(), "tls=mtls") {
		t.Fatalf("the serving line does not say mtls:\n%s", p.stderr.String())
	}

	cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
	defer ccancel()
	tlsArgs := []string{"--tls-ca", caFile, "--tls-cert", appCert, "--tls-key", appKey}
	if _, errOut, err := run(cctx, "spooled\n", append([]string{"produce", "events", "--broker", ready.GRPC}, tlsArgs...)...); err != nil {
		t.Fatalf("produce through the sidecar: %v\n%s", err, errOut)
	}
	waitFor(t, 30*time.Second, "the record forwarded", func() bool {
		out, _, err := run(cctx, "", "consume", "events", "--from", "earliest", "--broker", broker)
		return err == nil && out == "spooled\n"
	})
	out, _, err := run(cctx, "", append([]string{"sidecar", "status", "--http", ready.HTTP}, tlsArgs...)...)
	if err != nil || !strings.Contains(out, "upstream ["+broker+"]") || !strings.Contains(out, "events") {
		t.Fatalf("sidecar status over mTLS: %v\n%s", err, out)
	}

	if _, _, err := run(cctx, "x\n", "produce", "events", "--broker", ready.GRPC, "--tls-ca", caFile); err == nil ||
		!strings.Contains(err.Error(), "tls: certificate required") {
		t.Fatalf("a produce without a client certificate: %v", err)
	}
	if _, _, err := run(cctx, "", "sidecar", "status", "--http", ready.HTTP, "--tls-ca", caFile); err == nil {
		t.Fatal("sidecar status without a client certificate answered")
	}
	if err := p.stop(); err != nil {
		t.Fatalf("sidecar: %v", err)
	}
}
