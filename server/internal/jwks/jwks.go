package jwks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// algorithms are the signature algorithms taken: asymmetric ones only, so
// that the key set's public keys cannot sign (no HS256 with a public key).
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// Config says which tokens a Verifier takes.
type Config struct {
	// File is the JWKS, a JSON object with a "keys" array.
	File string
	// Issuer and Audience are the iss the tokens must carry, and one of
	// their aud; empty: not checked.
	Issuer, Audience string
	// Claim names the principal: "User:" and its value (default "sub").
	Claim string
	// Leeway is the clock skew allowed on exp and nbf (default 1 minute).
	Leeway time.Duration
	now    func() time.Time
}

// Verifier verifies tokens against a JWKS file.
type Verifier struct {
	cfg Config

	mu      sync.Mutex // guards the fields below
	keys    *jose.JSONWebKeySet
	checked time.Time // when the file was last looked at
	modTime time.Time
	size    int64
}

// New loads the key set; a file that does not parse is an error.
func New(cfg Config) (*Verifier, error) {
	if cfg.Claim == "" {
		cfg.Claim = "sub"
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = time.Minute
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	v := &Verifier{cfg: cfg, checked: cfg.now()}
	if err := v.reload(); err != nil {
		return nil, err
	}
	return v, nil
}

// reload reads the file if it changed since it was last read.
func (v *Verifier) reload() error {
	fi, err := os.Stat(v.cfg.File)
	if err != nil {
		return err
	}
	if v.keys != nil && fi.ModTime().Equal(v.modTime) && fi.Size() == v.size {
		return nil
	}
	data, err := os.ReadFile(v.cfg.File)
	if err != nil {
		return err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return fmt.Errorf("%s: not a JWKS: %w", v.cfg.File, err)
	}
	if len(set.Keys) == 0 {
		return fmt.Errorf("%s: the key set has no key", v.cfg.File)
	}
	for _, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return fmt.Errorf("%s: key %q is not a valid public key", v.cfg.File, k.KeyID)
		}
	}
	v.keys, v.modTime, v.size = &set, fi.ModTime(), fi.Size()
	return nil
}

// keySet is the current key set: the file is looked at again at most
// once a second; a change that does not parse keeps the last good set.
func (v *Verifier) keySet() *jose.JSONWebKeySet {
	v.mu.Lock()
	defer v.mu.Unlock()
	if now := v.cfg.now(); now.Sub(v.checked) >= time.Second {
		v.checked = now
		_ = v.reload() // NB: a bad rotation keeps the last good set.
	}
	return v.keys
}

// Principal verifies token and returns its principal, or why it is not
// taken.
func (v *Verifier) Principal(token string) (string, error) {
	tok, err := jwt.ParseSigned(token, algorithms)
	if err != nil {
		return "", fmt.Errorf("not a signed JWT: %w", err)
	}
	if len(tok.Headers) != 1 {
		return "", errors.New("a JWT has one signature")
	}
	keys := v.keySet().Key(tok.Headers[0].KeyID)
	if len(keys) == 0 {
		return "", fmt.Errorf("no key %q in the key set", tok.Headers[0].KeyID)
	}
	var std jwt.Claims
	custom := map[string]any{}
	if err := tok.Claims(keys[0].Key, &std, &custom); err != nil {
		return "", fmt.Errorf("the signature does not verify: %w", err)
	}
	want := jwt.Expected{Issuer: v.cfg.Issuer, Time: v.cfg.now()}
	if v.cfg.Audience != "" {
		want.AnyAudience = jwt.Audience{v.cfg.Audience}
	}
	if err := std.ValidateWithLeeway(want, v.cfg.Leeway); err != nil {
		return "", err
	}
	if std.Expiry == nil {
		return "", errors.New("the JWT has no exp")
	}
	name, _ := custom[v.cfg.Claim].(string)
	if name == "" {
		return "", fmt.Errorf("the JWT has no %q claim to name its principal", v.cfg.Claim)
	}
	return "User:" + name, nil
}

// IsJWT says whether token has a JWS compact form's shape: three parts.
func IsJWT(token string) bool {
	dots := 0
	for i := range len(token) {
		if token[i] == '.' {
			dots++
		}
	}
	return dots == 2
}
