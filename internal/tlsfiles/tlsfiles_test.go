package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/runnel-broker/runnel/internal/testcerts"
)

// TestLoadErrors: bad files fail at load, with an error naming the file
// at fault and what is wrong with it.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "ca")
	certFile, keyFile := ca.Broker(t, "b1").Write(t, dir, "good")
	_, otherKey := ca.Broker(t, "b2").Write(t, dir, "other")
	expiredCert, expiredKey := ca.Expired(t, "old").Write(t, dir, "expired")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name      string
		cert, key string
		want      []string
	}{
		{"missing cert", missing, keyFile, []string{"certificate file", missing, "no such file"}},
		{"missing key", certFile, missing, []string{"key file", missing, "no such file"}},
		{"key of another certificate", certFile, otherKey, []string{certFile, otherKey, "private key does not match public key"}},
		{"not PEM", garbage, keyFile, []string{garbage, "PEM"}},
		{"expired", expiredCert, expiredKey, []string{expiredCert, "expired at"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeyPair(tc.cert, tc.key, nil)
			wantErr(t, err, tc.want...)
		})
	}
	_, err := LoadCAs(missing, nil)
	wantErr(t, err, "CA file", missing, "no such file")
	_, err = LoadCAs(garbage, nil)
	wantErr(t, err, garbage, "no PEM certificate")
	_, err = LoadCAs(dir, nil)
	wantErr(t, err, "CA file", dir, "is a directory")
}

func wantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
}

// TestKeyPairReloads rotates a pair on disk: the new one is used once the
// files change; a half-done rotation (the certificate written, the key
// not yet) keeps the last good pair and warns once; finishing it loads
// the new pair.
func TestKeyPairReloads(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "ca")
	first, second, third := ca.Broker(t, "first"), ca.Broker(t, "second"), ca.Broker(t, "third")
	certFile, keyFile := first.Write(t, dir, "broker")
	var log syncBuffer
	pair, err := LoadKeyPair(certFile, keyFile, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	checkAlways(pair)
	wantLeaf(t, pair, "first")
	wantLeaf(t, pair, "first")
	if strings.Contains(log.String(), "reload") {
		t.Fatalf("unchanged files reloaded:\n%s", log.String())
	}

	second.Write(t, dir, "broker")
	wantLeaf(t, pair, "second")

	// Half a rotation: the third certificate with the second key.
	if err := os.WriteFile(certFile, third.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	wantLeaf(t, pair, "second")
	wantLeaf(t, pair, "second")
	if n := strings.Count(log.String(), "reload failed"); n != 1 {
		t.Fatalf("%d warnings of a failed reload, want 1:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "private key does not match") {
		t.Fatalf("the warning does not say why:\n%s", log.String())
	}
	if err := os.WriteFile(keyFile, third.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	wantLeaf(t, pair, "third")

	// A file gone (mid-rotation by delete and create) keeps the pair.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	wantLeaf(t, pair, "third")
}

// checkAlways makes pair look at its files at every use.
func checkAlways(pair *KeyPair) { pair.w.SetInterval(0) }

func wantLeaf(t *testing.T, pair *KeyPair, name string) {
	t.Helper()
	if got := pair.Certificate().Leaf.Subject.CommonName; got != name {
		t.Fatalf("certificate %q, want %q", got, name)
	}
}

// TestHandshakes runs real handshakes between ServerConfig and
// ClientConfig over TCP: with client CAs, a client without a
// certificate or with another CA's is refused and one with a good
// certificate accepted; a client trusting another CA refuses the
// server; a rotated server certificate is served to the next handshake.
func TestHandshakes(t *testing.T) {
	dir := t.TempDir()
	ca, other := testcerts.NewCA(t, "ca"), testcerts.NewCA(t, "other")
	certFile, keyFile := ca.Broker(t, "broker").Write(t, dir, "broker")
	caFile, otherFile := ca.WriteCA(t, dir, "ca.pem"), other.WriteCA(t, dir, "other.pem")
	goodCert, goodKey := ca.Client(t, "alice").Write(t, dir, "alice")
	strangerCert, strangerKey := other.Client(t, "mallory").Write(t, dir, "mallory")

	pair := mustPair(t, certFile, keyFile)
	checkAlways(pair)
	clientCAs := mustCAs(t, caFile)
	l, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(pair, clientCAs))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close() // NB: before the Wait, which the accept loop ends
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			// NB: the handshake, then one byte each way: a refused client
			// certificate shows on the client's first read (TLS 1.3).
			go func() {
				defer conn.Close()
				if err := conn.(*tls.Conn).Handshake(); err != nil {
					return
				}
				var b [1]byte
				if _, err := conn.Read(b[:]); err == nil {
					conn.Write(b[:])
				}
			}()
		}
	})
	dial := func(cfg *tls.Config) (string, error) {
		conn, err := tls.Dial("tcp", l.Addr().String(), cfg)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		if _, err := conn.Write([]byte{1}); err != nil {
			return "", err
		}
		var b [1]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			return "", err
		}
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	roots := mustCAs(t, caFile)
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		want string // "" for refused
	}{
		{"good client", ClientConfig(roots, mustPair(t, goodCert, goodKey), ""), "broker"},
		{"no client certificate", ClientConfig(roots, nil, ""), ""},
		{"client of another CA", ClientConfig(roots, mustPair(t, strangerCert, strangerKey), ""), ""},
		{"client trusting another CA", ClientConfig(mustCAs(t, otherFile), mustPair(t, goodCert, goodKey), ""), ""},
		{"server name not in the certificate", ClientConfig(roots, mustPair(t, goodCert, goodKey), "elsewhere.example"), ""},
		{"server name override", ClientConfig(roots, mustPair(t, goodCert, goodKey), "localhost"), "broker"},
		{"TLS 1.1", func() *tls.Config {
			c := ClientConfig(roots, mustPair(t, goodCert, goodKey), "")
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
			return c
		}(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dial(tc.cfg)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted (server %q), want refused", got)
				}
				var recordErr tls.RecordHeaderError
				if errors.As(err, &recordErr) {
					t.Fatalf("refused without TLS: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got server %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	ca.Broker(t, "rotated").Write(t, dir, "broker")
	if got, err := dial(ClientConfig(roots, mustPair(t, goodCert, goodKey), "")); err != nil || got != "rotated" {
		t.Fatalf("after rotation: server %q, %v; want rotated", got, err)
	}
}

func mustPair(t *testing.T, certFile, keyFile string) *KeyPair {
	t.Helper()
	p, err := LoadKeyPair(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustCAs(t *testing.T, file string) *CAs {
	t.Helper()
	c, err := LoadCAs(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
