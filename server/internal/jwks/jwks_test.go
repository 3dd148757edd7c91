package jwks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

type issuer struct {
	key *ecdsa.PrivateKey
	kid string
}

func newIssuer(t *testing.T, kid string) issuer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return issuer{k, kid}
}

func (i issuer) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &i.key.PublicKey, KeyID: i.kid, Algorithm: string(jose.ES256), Use: "sig"}
}

func (i issuer) sign(t *testing.T, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: i.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", i.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func writeSet(t *testing.T, path string, keys ...jose.JSONWebKey) {
	t.Helper()
	data, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestPrincipal: a token signed by a key of the set, current, from the
// issuer, for the audience, names its principal; each other one is
// refused saying why.
func TestPrincipal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	idp, stranger := newIssuer(t, "k1"), newIssuer(t, "k1")
	writeSet(t, path, idp.public())
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	v, err := New(Config{File: path, Issuer: "https://idp.example", Audience: "runnel", now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	claims := func(change func(*jwt.Claims)) jwt.Claims {
		c := jwt.Claims{Subject: "alice", Issuer: "https://idp.example", Audience: jwt.Audience{"runnel", "other"},
			Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)}
		if change != nil {
			change(&c)
		}
		return c
	}
	if p, err := v.Principal(idp.sign(t, claims(nil))); err != nil || p != "User:alice" {
		t.Fatalf("a good token: %q, %v", p, err)
	}
	for what, c := range map[string]struct {
		token string
		want  string
	}{
		"expired":          {idp.sign(t, claims(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-2 * time.Minute)) })), "expired"},
		"not yet valid":    {idp.sign(t, claims(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(5 * time.Minute)) })), "not valid yet"},
		"another issuer":   {idp.sign(t, claims(func(c *jwt.Claims) { c.Issuer = "https://evil.example" })), "issuer"},
		"another audience": {idp.sign(t, claims(func(c *jwt.Claims) { c.Audience = jwt.Audience{"other"} })), "audience"},
		"no exp":           {idp.sign(t, claims(func(c *jwt.Claims) { c.Expiry = nil })), "no exp"},
		"no subject":       {idp.sign(t, claims(func(c *jwt.Claims) { c.Subject = "" })), `no "sub" claim`},
		"another key":      {stranger.sign(t, claims(nil)), "signature does not verify"},
		"an unknown kid":   {newIssuer(t, "k9").sign(t, claims(nil)), `no key "k9"`},
		"not a JWT":        {"a.b.c", "not a signed JWT"},
	} {
		if p, err := v.Principal(c.token); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q, %v; want an error saying %q", what, p, err, c.want)
		}
	}
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")},
		(&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.Signed(hs).Claims(claims(nil)).Serialize()
	if _, err := v.Principal(tok); err == nil {
		t.Error("an HS256 token was taken")
	}
}

// TestRotation: a new key set in the file is used once the file is
// looked at again; one that does not parse keeps the last good set.
func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	old, next := newIssuer(t, "old"), newIssuer(t, "next")
	writeSet(t, path, old.public())
	v, err := New(Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	f := v.keys.(file)
	f.SetInterval(time.Hour)
	c := jwt.Claims{Subject: "bob", Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}
	writeSet(t, path, old.public(), next.public())
	if _, err := v.Principal(next.sign(t, c)); err == nil {
		t.Fatal("the new key was used before the file was looked at again")
	}
	f.SetInterval(0)
	if p, err := v.Principal(next.sign(t, c)); err != nil || p != "User:bob" {
		t.Fatalf("the new key, the file looked at again: %q, %v", p, err)
	}
	if err := os.WriteFile(path, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Principal(old.sign(t, c)); err != nil {
		t.Fatalf("a bad rotation dropped the good set: %v", err)
	}
	if _, err := New(Config{File: path}); err == nil || !strings.Contains(err.Error(), "not a JWKS") {
		t.Fatalf("a bad file at start: %v", err)
	}
}
