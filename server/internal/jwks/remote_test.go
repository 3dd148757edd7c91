package jwks

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/runnel-broker/runnel/internal/testcerts"
)

// provider is an identity provider's jwks_uri over real HTTPS, with a
// certificate from its own CA.
type provider struct {
	*httptest.Server
	ca      *testcerts.CA
	fetches atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
}

func newProvider(t *testing.T, keys ...jose.JSONWebKey) *provider {
	t.Helper()
	p := &provider{ca: testcerts.NewCA(t, "idp-ca"), status: http.StatusOK}
	p.serve(t, keys...)
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/to-http" {
			http.Redirect(w, r, "http://"+r.Host+"/jwks.json", http.StatusFound)
			return
		}
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		w.WriteHeader(p.status)
		_, _ = w.Write(p.body)
	}))
	p.TLS = &tls.Config{Certificates: []tls.Certificate{p.ca.Broker(t, "idp").TLS(t)}}
	p.StartTLS()
	t.Cleanup(p.Close)
	return p
}

// serve makes the provider publish keys.
func (p *provider) serve(t *testing.T, keys ...jose.JSONWebKey) {
	t.Helper()
	data, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	p.reply(http.StatusOK, data)
}

func (p *provider) reply(status int, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.body = status, body
}

// client trusts the provider's CA.
func (p *provider) client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool()}}}
}

func (p *provider) verifier(t *testing.T, cfg Config) (*Verifier, *remote) {
	t.Helper()
	cfg.URL = p.URL + "/jwks.json"
	if cfg.Client == nil {
		cfg.Client = p.client()
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, v.keys.(*remote)
}

func claims() jwt.Claims {
	return jwt.Claims{Subject: "dana", Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}
}

func wantPrincipal(t *testing.T, what string, v *Verifier, token string) {
	t.Helper()
	if p, err := v.Principal(token); err != nil || p != "User:dana" {
		t.Fatalf("%s: %q, %v", what, p, err)
	}
}

func wantRefused(t *testing.T, what string, v *Verifier, token, because string) {
	t.Helper()
	if p, err := v.Principal(token); err == nil || !strings.Contains(err.Error(), because) {
		t.Fatalf("%s: %q, %v; want an error saying %q", what, p, err, because)
	}
}

// TestURLRotation: a key set fetched from its URL verifies tokens; a
// token signed by a key the provider has just rotated in fetches the set
// again at once, but no more often than the miss interval, so forged
// kids cannot make the broker hammer the provider.
func TestURLRotation(t *testing.T) {
	old, next, forged := newIssuer(t, "old"), newIssuer(t, "next"), newIssuer(t, "forged")
	idp := newProvider(t, old.public())
	v, r := idp.verifier(t, Config{})
	wantPrincipal(t, "the provider's key", v, old.sign(t, claims()))
	if n := idp.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for one token, want the one at start", n)
	}

	idp.serve(t, old.public(), next.public())
	r.missEvery = 0
	wantPrincipal(t, "a key rotated in", v, next.sign(t, claims()))
	if n := idp.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want one more for the new kid", n)
	}

	r.missEvery = time.Hour
	for range 5 {
		wantRefused(t, "a kid the provider does not have", v, forged.sign(t, claims()), `no key "forged"`)
	}
	if n := idp.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after 5 forged kids within the miss interval, want none more", n)
	}
}

// TestURLRefresh: the set is fetched again after Refresh, in the
// background, the old set serving meanwhile; a fetch that fails keeps
// the last good set, and is tried again after the miss interval, not at
// every token.
func TestURLRefresh(t *testing.T) {
	old, next := newIssuer(t, "old"), newIssuer(t, "next")
	idp := newProvider(t, old.public())
	v, r := idp.verifier(t, Config{Refresh: time.Millisecond})
	r.missEvery = time.Hour
	idp.reply(http.StatusInternalServerError, []byte("down"))
	time.Sleep(2 * time.Millisecond)
	wantPrincipal(t, "a stale set, the provider down", v, old.sign(t, claims()))
	waitFetches(t, idp, 2)
	for deadline := time.Now().Add(10 * time.Second); r.refreshing.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the refresh never ended")
		}
	}
	r.mu.Lock()
	err := r.err
	r.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error") {
		t.Fatalf("the failed refresh: %v", err)
	}
	for range 5 {
		time.Sleep(2 * time.Millisecond)
		wantPrincipal(t, "after a failed refresh", v, old.sign(t, claims()))
	}
	if n := idp.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want no retry of the failed refresh within the miss interval", n)
	}

	// The provider back, dropping the old key: a refresh takes it out.
	r.missEvery = 0
	idp.serve(t, next.public())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := v.Principal(old.sign(t, claims())); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refreshed set still has the key the provider dropped")
		}
	}
	wantPrincipal(t, "the refreshed set", v, next.sign(t, claims()))
}

func waitFetches(t *testing.T, idp *provider, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); idp.fetches.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d fetches, want %d", idp.fetches.Load(), n)
		}
	}
}

// TestURLDownAtStart: a provider down when the broker starts does not
// stop it: JWTs are refused saying why, and taken once a fetch works.
func TestURLDownAtStart(t *testing.T) {
	k := newIssuer(t, "k")
	idp := newProvider(t, k.public())
	idp.reply(http.StatusServiceUnavailable, nil)
	var log bytes.Buffer
	v, r := idp.verifier(t, Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if !strings.Contains(log.String(), "jwks: cannot fetch the key set yet") || !strings.Contains(log.String(), "503") {
		t.Fatalf("the start does not warn:\n%s", log.String())
	}
	r.missEvery = time.Hour
	wantRefused(t, "the provider down", v, k.sign(t, claims()), "is not fetched yet: GET "+idp.URL+"/jwks.json: 503 Service Unavailable")
	idp.serve(t, k.public())
	r.missEvery = 0
	wantPrincipal(t, "the provider back", v, k.sign(t, claims()))
}

// TestURLRefusals: a URL that is not https, a server of another CA, a
// body that is not a key set or is too big, each said.
func TestURLRefusals(t *testing.T) {
	if _, err := New(Config{URL: "http://idp.example/jwks.json"}); err == nil || !strings.Contains(err.Error(), "is not an https URL") {
		t.Fatalf("an http URL: %v", err)
	}
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "file or its URL") {
		t.Fatalf("no source: %v", err)
	}
	k := newIssuer(t, "k")
	idp := newProvider(t, k.public())
	stranger := testcerts.NewCA(t, "stranger")
	v, r := idp.verifier(t, Config{Client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: stranger.Pool()}}}})
	r.missEvery = 0
	wantRefused(t, "a provider the client does not trust", v, k.sign(t, claims()), "certificate signed by unknown authority")

	// A redirect to http is not followed.
	to := Config{URL: idp.URL + "/to-http", Client: idp.client()}
	if v, err := New(to); err != nil {
		t.Fatal(err)
	} else {
		wantRefused(t, "a key set redirected to http", v, k.sign(t, claims()), "a redirect to http://")
	}
	if n := idp.fetches.Load(); n != 0 {
		t.Fatalf("%d fetches of the key set over http", n)
	}

	v, r = idp.verifier(t, Config{})
	r.missEvery = 0
	for body, want := range map[string]string{
		"{garbage":                        "not a JWKS",
		`{"keys":[]}`:                     "the key set has no key",
		strings.Repeat(" ", 1<<20) + "{}": "over 1 MiB",
	} {
		idp.reply(http.StatusOK, []byte(body))
		wantRefused(t, "an unknown kid, the set now bad", v, newIssuer(t, "other").sign(t, claims()),
			`no key "other" in the key set, and fetching it again from `+idp.URL+"/jwks.json failed: ")
		r.mu.Lock()
		err := r.err
		r.mu.Unlock()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("body %.20q: %v, want %q", body, err, want)
		}
		wantPrincipal(t, "the last good set", v, k.sign(t, claims()))
	}
}
