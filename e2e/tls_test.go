package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/runnel-broker/runnel/internal/testcerts"
)

// tlsCerts are a CA, a broker certificate (for 127.0.0.1, as a server and
// a client) and a client certificate, written to a directory.
type tlsCerts struct {
	ca, brokerCert, brokerKey, clientCert, clientKey string
}

func writeTLSCerts(t *testing.T) tlsCerts {
	t.Helper()
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "runnel e2e CA")
	c := tlsCerts{ca: ca.WriteCA(t, dir, "ca.pem")}
	c.brokerCert, c.brokerKey = ca.Broker(t, "broker").Write(t, dir, "broker")
	c.clientCert, c.clientKey = ca.Client(t, "alice").Write(t, dir, "client")
	return c
}

// serveArgs are runnel serve's flags for mTLS with these certificates.
func (c tlsCerts) serveArgs() []string {
	return []string{"--tls-cert", c.brokerCert, "--tls-key", c.brokerKey, "--tls-client-ca", c.ca}
}

// TestTLSGrpcurl runs a broker with mTLS and calls it as
// docs/security.md shows: grpcurl with -cacert, -cert and -key is
// served (reflection included), grpcurl in plaintext or without a client
// certificate is refused, and runnel health passes with the RUNNEL_TLS_*
// variables a broker's container sets for serve, plus RUNNEL_TLS_CA.
func TestTLSGrpcurl(t *testing.T) {
	certs := writeTLSCerts(t)
	b := startBroker(t, t.TempDir(), certs.serveArgs()...)
	sh := func(env []string, command string) (string, error) {
		t.Helper()
		return runShell(t, append(os.Environ(), env...), command)
	}
	g := bins.grpcurl + " -cacert " + certs.ca + " -cert " + certs.clientCert + " -key " + certs.clientKey
	if out, err := sh(nil, g+" "+b.addr+" list"); err != nil || !strings.Contains(out, "runnel.v1.ProduceService") {
		t.Fatalf("grpcurl list over mTLS: %v\n%s", err, out)
	}
	if out, err := sh(nil, g+` -d '{"name": "orders", "partitions": 3}' `+b.addr+" runnel.v1.AdminService/CreateTopic"); err != nil || !strings.Contains(out, `"orders"`) {
		t.Fatalf("grpcurl CreateTopic over mTLS: %v\n%s", err, out)
	}
	for _, tc := range []struct{ name, command string }{
		{"plaintext", bins.grpcurl + " -plaintext " + b.addr + " list"},
		{"no client certificate", bins.grpcurl + " -cacert " + certs.ca + " " + b.addr + " list"},
		{"not trusting the CA", bins.grpcurl + " -cert " + certs.clientCert + " -key " + certs.clientKey + " " + b.addr + " list"},
	} {
		// NB: grpcurl retries a failed handshake until its connect
		// timeout (10s by default).
		if out, err := sh(nil, strings.Replace(tc.command, bins.grpcurl, bins.grpcurl+" -connect-timeout 2", 1)); err == nil {
			t.Errorf("grpcurl, %s: served, want refused\n%s", tc.name, out)
		}
	}

	// As a container's HEALTHCHECK: the broker's own certificate as the
	// client's (RUNNEL_TLS_CERT and RUNNEL_TLS_KEY are serve's too).
	env := []string{"RUNNEL_BROKER=" + b.addr, "RUNNEL_TLS_CERT=" + certs.brokerCert, "RUNNEL_TLS_KEY=" + certs.brokerKey}
	if out, err := sh(append(env, "RUNNEL_TLS_CA="+certs.ca), bins.runnel+" health"); err != nil || out != "SERVING\n" {
		t.Fatalf("runnel health over mTLS: %v\n%s", err, out)
	}
	if out, err := sh(env, bins.runnel+" health --timeout 5s"); err == nil {
		t.Fatalf("runnel health not trusting the CA: served\n%s", out)
	}
}

// TestTLSCluster runs three broker processes with mTLS on every listener,
// the brokers verifying each other against the client CA: the cluster
// forms, replicates and forwards over TLS, survives the loss of a broker
// (a new leader, produce through another), and the broker restarted
// rejoins and forwards; the CLI speaks TLS with the RUNNEL_TLS_*
// variables.
func TestTLSCluster(t *testing.T) {
	certs := writeTLSCerts(t)
	c := startCluster(t, 3, certs.serveArgs()...)
	tlsEnv := []string{"RUNNEL_TLS_CA=" + certs.ca, "RUNNEL_TLS_CERT=" + certs.clientCert, "RUNNEL_TLS_KEY=" + certs.clientKey}
	sh := func(i int, command string) string {
		t.Helper()
		out, err := runShell(t, append(append(os.Environ(), tlsEnv...), "RUNNEL_BROKER="+c.addrs[i]), command)
		if err != nil {
			t.Fatalf("%s (via broker %d): %v\n%s", command, i+1, err, out)
		}
		return out
	}
	r := bins.runnel
	sh(0, r+" topic create orders --partitions 1 --replication-factor 3")
	sh(1, "printf 'a\\nb\\n' | "+r+" produce orders")
	c.kill(0)
	sh(1, "printf 'c\\n' | "+r+" produce orders")
	if out := sh(2, r+" consume orders --from earliest"); out != "a\nb\nc\n" {
		t.Fatalf("consume via broker 3: %q", out)
	}
	// NB: a broker of a cluster serves once it reached a quorum of the
	// others: over TLS, on its peer listener and theirs.
	c.restart(0)
	if out := sh(0, r+" consume orders --from earliest"); out != "a\nb\nc\n" {
		t.Fatalf("consume via broker 1: %q", out)
	}
}

// clientConfig is a client's TLS config with these certificates: the CA
// trusted, the client certificate presented.
func (c tlsCerts) clientConfig() (*tls.Config, error) {
	pem, err := os.ReadFile(c.ca)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", c.ca)
	}
	pair, err := tls.LoadX509KeyPair(c.clientCert, c.clientKey)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
