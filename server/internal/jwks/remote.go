package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	// defaultRefresh is how often a key set's URL is fetched again.
	defaultRefresh = time.Hour
	// missRefresh is how soon, at most, a token whose kid the set lacks
	// fetches the set again: a provider that rotated a key in is heard
	// of at once, and a stream of forged kids costs one fetch each time.
	missRefresh = 10 * time.Second
	// maxSetBytes bounds a fetched key set.
	maxSetBytes = 1 << 20
)

// remote is a key set fetched from its URL: again every Refresh (the
// last set serves meanwhile, a fetch that fails keeps it), and sooner
// for a token whose kid it lacks. One fetch at a time.
type remote struct {
	cfg        Config
	missEvery  time.Duration // missRefresh; tests set less
	fetching   sync.Mutex    // held for a fetch
	refreshing atomic.Bool   // a refresh in the background is under way

	mu      sync.Mutex // guards the fields below
	set     *jose.JSONWebKeySet
	err     error     // the last fetch's, nil after one that worked
	tried   time.Time // when the last fetch began
	fetched time.Time // when the last fetch that worked began
}

func newRemote(cfg Config) (*remote, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an https URL: the key set must come over TLS, or anyone on the path could sign tokens", cfg.URL)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if cfg.Client != nil {
		c := *cfg.Client
		client = &c
	}
	// NB: a redirect to http would undo the https the URL insists on.
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("a redirect to %s: the key set must come over https", req.URL)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	cfg.Client = client
	if cfg.Refresh <= 0 {
		cfg.Refresh = defaultRefresh
	}
	r := &remote{cfg: cfg, missEvery: missRefresh}
	if err := r.fetch(time.Time{}); err != nil {
		cfg.Logger.Warn("jwks: cannot fetch the key set yet; JWTs are refused until it is", "url", cfg.URL, "err", err)
	}
	return r, nil
}

// keys is the set to verify a token signed by kid with.
func (r *remote) keys(kid string) (*jose.JSONWebKeySet, error) {
	r.mu.Lock()
	set, tried, fetched, failed := r.set, r.tried, r.fetched, r.err != nil
	r.mu.Unlock()
	now := time.Now()
	if set != nil && len(set.Key(kid)) > 0 {
		// NB: a refresh that failed is tried again after missEvery, not
		// at every token while the provider is down.
		stale := now.Sub(fetched) >= r.cfg.Refresh && (!failed || now.Sub(tried) >= r.missEvery)
		if stale && r.refreshing.CompareAndSwap(false, true) {
			go func() {
				defer r.refreshing.Store(false)
				_ = r.fetch(tried) // NB: logged; the set serves meanwhile.
			}()
		}
		return set, nil
	}
	if now.Sub(tried) >= r.missEvery {
		_ = r.fetch(tried)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.set == nil:
		return nil, fmt.Errorf("the key set at %s is not fetched yet: %v", r.cfg.URL, r.err)
	case r.err != nil && len(r.set.Key(kid)) == 0:
		return nil, fmt.Errorf("no key %q in the key set, and fetching it again from %s failed: %v", kid, r.cfg.URL, r.err)
	}
	return r.set, nil
}

func (r *remote) check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// fetch fetches the set, unless a fetch began after seen (the caller's
// view of the last one): callers that wait for the same stale set make
// one fetch.
func (r *remote) fetch(seen time.Time) error {
	r.fetching.Lock()
	defer r.fetching.Unlock()
	r.mu.Lock()
	if r.tried.After(seen) {
		defer r.mu.Unlock()
		return r.err
	}
	began := time.Now()
	r.tried = began
	r.mu.Unlock()

	set, err := r.get()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
	if err != nil {
		r.cfg.Logger.Warn("jwks: fetch failed; keeping the last good key set", "url", r.cfg.URL, "err", err)
		return err
	}
	if r.set == nil {
		r.cfg.Logger.Info("jwks: fetched", "url", r.cfg.URL, "keys", len(set.Keys))
	}
	r.set, r.fetched = set, began
	return nil
}

func (r *remote) get() (*jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", r.cfg.URL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", r.cfg.URL, err)
	}
	if len(data) > maxSetBytes {
		return nil, errors.New(r.cfg.URL + ": the key set is over 1 MiB")
	}
	return parse(r.cfg.URL, data)
}
