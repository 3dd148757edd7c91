package jwks

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/runnel-broker/runnel/internal/filewatch"
)

// algorithms are the signature algorithms taken: asymmetric ones only, so
// that the key set's public keys cannot sign (no HS256 with a public key).
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// Config says which tokens a Verifier takes.
type Config struct {
	// File is the JWKS, a JSON object with a "keys" array, saved beside
	// the broker; or URL is where the identity provider publishes it
	// (its jwks_uri). One of them.
	File, URL string
	// Client fetches URL (nil: one that trusts the system's CAs, with a
	// 10 s timeout).
	Client *http.Client
	// Refresh is how often URL is fetched again (default 1 hour, as
	// Kafka's sasl.oauthbearer.jwks.endpoint.refresh.ms).
	Refresh time.Duration
	// Issuer and Audience are the iss the tokens must carry, and one of
	// their aud; empty: not checked.
	Issuer, Audience string
	// Claim names the principal: "User:" and its value (default "sub").
	Claim string
	// Leeway is the clock skew allowed on exp and nbf (default 1 minute).
	Leeway time.Duration
	Logger *slog.Logger
	now    func() time.Time
}

// Verifier verifies tokens against a key set.
type Verifier struct {
	cfg  Config
	keys source
}

// source is where a Verifier's key set comes from: a file or a URL.
type source interface {
	// keys is the set to verify a token signed by kid with.
	keys(kid string) (*jose.JSONWebKeySet, error)
	// check is nil when the set in use is the source's current one, or
	// why the last reload or fetch failed.
	check() error
}

// file is a key set in a file, read again when it changes.
type file struct {
	*filewatch.File[*jose.JSONWebKeySet]
}

func (f file) keys(string) (*jose.JSONWebKeySet, error) { return f.Get(), nil }
func (f file) check() error                             { return f.Check() }

// Check says whether the key set in use is its source's current one
// (nil), or why the last reload of the file or fetch of the URL failed.
func (v *Verifier) Check() error { return v.keys.check() }

// New loads the key set. A file that does not parse is an error; a URL
// that cannot be fetched yet is not (the identity provider may be down
// while the broker starts): it is logged, and fetched again on use.
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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{cfg: cfg}
	switch {
	case (cfg.File == "") == (cfg.URL == ""):
		return nil, errors.New("give the key set's file or its URL, one of them")
	case cfg.File != "":
		w, err := filewatch.Watch("jwks", []string{cfg.File}, func() (*jose.JSONWebKeySet, error) {
			data, err := os.ReadFile(cfg.File)
			if err != nil {
				return nil, err
			}
			return parse(cfg.File, data)
		}, cfg.Logger)
		if err != nil {
			return nil, err
		}
		v.keys = file{w}
	default:
		r, err := newRemote(cfg)
		if err != nil {
			return nil, err
		}
		v.keys = r
	}
	return v, nil
}

// parse checks a key set: JSON, at least one key, public keys only.
// where names it in errors.
func parse(where string, data []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%s: not a JWKS: %w", where, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%s: the key set has no key", where)
	}
	for _, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, fmt.Errorf("%s: key %q is not a valid public key", where, k.KeyID)
		}
	}
	return &set, nil
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
	kid := tok.Headers[0].KeyID
	set, err := v.keys.keys(kid)
	if err != nil {
		return "", err
	}
	keys := set.Key(kid)
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
