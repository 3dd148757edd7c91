package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/runnel-broker/runnel/internal/testcerts"
	"github.com/runnel-broker/runnel/server"
)

// TestTokenFileReload, as an operator would: a token added to the
// broker's --token-file is taken, and one removed is refused, without a
// restart.
func TestTokenFileReload(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	writeTokens := func(lines ...string) {
		t.Helper()
		// NB: as an editor or a config management tool does: a new file
		// renamed over the old.
		if err := os.WriteFile(tokens+".new", []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tokens+".new", tokens); err != nil {
			t.Fatal(err)
		}
	}
	writeTokens(server.TokenLine("User:alice", "alice-token"))
	broker, log := serveProcess(t, "--token-file", tokens)
	list := func(token string) error {
		_, _, err := run(context.Background(), "", "topic", "list", "--broker", broker, "--token", token)
		return err
	}
	if err := list("alice-token"); err != nil {
		t.Fatalf("alice: %v", err)
	}
	if err := list("bob-token"); err == nil || !strings.Contains(err.Error(), "the bearer token is not one this broker knows") {
		t.Fatalf("bob before his token is added: %v", err)
	}

	writeTokens(server.TokenLine("User:bob", "bob-token"))
	waitFor(t, 10*time.Second, "bob's token to be taken", func() bool { return list("bob-token") == nil })
	if err := list("alice-token"); err == nil || !strings.Contains(err.Error(), "not one this broker knows") {
		t.Fatalf("alice's revoked token: %v", err)
	}
	if !strings.Contains(log.String(), "token file: reloaded") {
		t.Fatalf("the broker did not log the reload:\n%s", log.String())
	}
}

// jwksProvider is an identity provider's jwks_uri over HTTPS, its
// certificate from a CA of its own.
type jwksProvider struct {
	url, caFile string
	mu          sync.Mutex
	keys        []jose.JSONWebKey
}

func newJWKSProvider(t *testing.T) *jwksProvider {
	t.Helper()
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "idp CA")
	p := &jwksProvider{caFile: ca.WriteCA(t, dir, "idp-ca.pem")}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: p.keys})
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Broker(t, "idp").TLS(t)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.url = srv.URL + "/.well-known/jwks.json"
	return p
}

// signingKey is one of the provider's keys, kid named.
type signingKey struct {
	kid string
	key *ecdsa.PrivateKey
}

func newSigningKey(t *testing.T, kid string) signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid, k}
}

func (p *jwksProvider) publish(keys ...signingKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = nil
	for _, k := range keys {
		p.keys = append(p.keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: string(jose.ES256), Use: "sig"})
	}
}

func (k signingKey) token(t *testing.T, subject string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Subject: subject, Issuer: "https://idp.example", Audience: jwt.Audience{"runnel"},
		Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestJWKSFromURL: a broker given its identity provider's jwks_uri
// takes the JWTs it signs, with ACLs naming their subjects, and keeps up
// when the provider rotates its keys, without a restart.
func TestJWKSFromURL(t *testing.T) {
	idp := newJWKSProvider(t)
	first, second := newSigningKey(t, "2026-11"), newSigningKey(t, "2026-12")
	idp.publish(first)
	broker, _ := serveProcess(t, "--jwt-jwks-url", idp.url, "--jwt-jwks-ca", idp.caFile, "--jwt-jwks-refresh", "1s",
		"--jwt-issuer", "https://idp.example", "--jwt-audience", "runnel", "--authorization", "--superusers", "User:admin")
	as := func(token string, args ...string) error {
		_, _, err := run(context.Background(), "", append(args, "--broker", broker, "--token", token)...)
		return err
	}
	if err := as(first.token(t, "admin"), "topic", "create", "orders"); err != nil {
		t.Fatalf("the admin's JWT: %v", err)
	}
	if err := as(first.token(t, "erin"), "topic", "describe", "orders"); err == nil ||
		!strings.Contains(err.Error(), `principal "User:erin" is not allowed to describe on topic "orders"`) {
		t.Fatalf("erin's JWT, no ACL: %v", err)
	}

	// The provider rotates: it publishes the new key beside the old, then
	// signs with it.
	idp.publish(first, second)
	// NB: clients still on the old key's tokens keep the refresh, every
	// --jwt-jwks-refresh, going; a new kid alone fetches at most every 10s.
	waitFor(t, 15*time.Second, "a JWT of the provider's new key to be taken", func() bool {
		if err := as(first.token(t, "admin"), "topic", "describe", "orders"); err != nil {
			t.Fatalf("the old key's JWT during the rotation: %v", err)
		}
		return as(second.token(t, "admin"), "topic", "describe", "orders") == nil
	})
	if err := as(newSigningKey(t, "2026-12").token(t, "admin"), "topic", "describe", "orders"); err == nil ||
		!strings.Contains(err.Error(), "the signature does not verify") {
		t.Fatalf("a JWT of a forged key with the provider's kid: %v", err)
	}
}

// TestServeAuthErrors: each bad authentication setting stops the start
// saying what to fix.
func TestServeAuthErrors(t *testing.T) {
	dir := t.TempDir()
	base := []string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"}
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a key set twice", []string{"--jwt-jwks-file", jwksFile, "--jwt-jwks-url", "https://idp.example/jwks"}, "give the key set one way"},
		{"a key set with no key", []string{"--jwt-jwks-file", jwksFile}, "--jwt-jwks-file: " + jwksFile + ": the key set has no key"},
		{"a key set over http", []string{"--jwt-jwks-url", "http://idp.example/jwks"}, `--jwt-jwks-url: "http://idp.example/jwks" is not an https URL`},
		{"a CA without a URL", []string{"--jwt-jwks-ca", jwksFile}, "--jwt-jwks-ca and --jwt-jwks-refresh are for --jwt-jwks-url"},
		{"a missing CA", []string{"--jwt-jwks-url", "https://idp.example/jwks", "--jwt-jwks-ca", filepath.Join(dir, "nope.pem")}, "--jwt-jwks-ca: CA file: open"},
		{"a key set fetched nonstop", []string{"--jwt-jwks-url", "https://idp.example/jwks", "--jwt-jwks-refresh", "10ms"}, "--jwt-jwks-refresh 10ms: want 1s or more"},
		{"a missing token file", []string{"--token-file", filepath.Join(dir, "nope")}, "--token-file: open"},
		{"a mapping rule without its replacement", []string{"--tls-principal-rules", "RULE:^CN=(.*)$"}, "--tls-principal-rules: rule 1"},
		{"a certificate field there is not", []string{"--tls-principal", "ou"}, `--tls-principal "ou": use one of cn, subject`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(context.Background(), "", append(base, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
