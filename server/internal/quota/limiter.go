package quota

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel-broker/runnel/server/internal/errs"
)

// Burst is how much of its rate a bucket holds: a principal idle for a
// second or more may send a second's worth at once before it is
// throttled.
const Burst = time.Second

// ErrExceeded is returned by Limiter.Take when a request would have to
// wait longer than the limiter's cap: the request takes nothing, and the
// caller refuses it (RESOURCE_EXHAUSTED) with the error's message, which
// names the principal, the quota and its rate.
var ErrExceeded = errors.New("quota exceeded")

// Limiter accounts for the principals' requests under the quotas it is
// configured with, and says how long to throttle each. It is safe for
// concurrent use.
type Limiter struct {
	now         func() time.Time
	maxThrottle time.Duration
	// active is whether any rate is set: without one, Take returns at
	// once, taking no lock.
	active atomic.Bool

	mu      sync.Mutex // guards the fields below
	quotas  Quotas
	buckets map[bucketKey]*bucket
	// sweepAt is the number of buckets past which Take forgets the full
	// ones (a full bucket is as good as none).
	sweepAt int
}

type bucketKey struct {
	principal string
	kind      Kind
}

// bucket is a token bucket that may go into debt: tokens is what it holds
// as of last, at most rate*Burst, negative in debt.
type bucket struct {
	rate, tokens float64
	last         time.Time
}

const minSweep = 1024

// NewLimiter returns a limiter with no quota, on clock now, that refuses
// a request whose throttle would exceed maxThrottle.
func NewLimiter(now func() time.Time, maxThrottle time.Duration) *Limiter {
	return &Limiter{now: now, maxThrottle: maxThrottle, buckets: map[bucketKey]*bucket{}, sweepAt: minSweep}
}

// Configure replaces the quotas. What the principals did is kept: a
// bucket whose rate changes keeps its debt, and at most its new Burst.
func (l *Limiter) Configure(q Quotas) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.quotas = q
	for key, b := range l.buckets {
		rate := q.Rate(key.principal, key.kind)
		if rate == 0 {
			delete(l.buckets, key)
			continue
		}
		b.rate, b.tokens = rate, min(b.tokens, capacity(rate))
	}
	l.active.Store(!q.IsZero())
}

// Active says whether any quota is set: without one, Take always returns
// 0.
func (l *Limiter) Active() bool { return l.active.Load() }

// Take accounts for n of kind k done by principal and returns how long to
// throttle it: 0 when it is under its rate (or has none). When the
// throttle would exceed the cap, it takes nothing and returns
// ErrExceeded.
func (l *Limiter) Take(principal string, k Kind, n float64) (time.Duration, error) {
	if !l.active.Load() {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rate := l.quotas.Rate(principal, k)
	if rate == 0 {
		return 0, nil
	}
	now := l.now()
	key := bucketKey{principal, k}
	b := l.buckets[key]
	if b == nil {
		l.sweep(now)
		b = &bucket{rate: rate, tokens: capacity(rate), last: now}
		l.buckets[key] = b
	}
	b.refill(now)
	after := b.tokens - n
	if after >= 0 {
		b.tokens = after
		return 0, nil
	}
	throttle := time.Duration(math.Ceil(-after / rate * float64(time.Second)))
	if throttle > l.maxThrottle {
		return 0, errs.Newf(ErrExceeded, "principal %q is over its %s quota of %v %s: this request would wait %v, past the broker's limit of %v; send less at once (fewer streams, smaller requests or batches), or raise the quota",
			principal, k, rate, k.Unit(), throttle.Round(time.Millisecond), l.maxThrottle)
	}
	b.tokens = after
	return throttle, nil
}

// refill adds what the rate earned since b.last, up to capacity.
func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(capacity(b.rate), b.tokens+b.rate*d.Seconds())
		b.last = now
	}
}

func capacity(rate float64) float64 { return rate * Burst.Seconds() }

// sweep forgets the full buckets once there are many, with l.mu held: a
// principal's bucket is made again, full, when it comes back.
func (l *Limiter) sweep(now time.Time) {
	if len(l.buckets) < l.sweepAt {
		return
	}
	for key, b := range l.buckets {
		if b.refill(now); b.tokens >= capacity(b.rate) {
			delete(l.buckets, key)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.buckets))
}
