package quota

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(q Quotas) (*Limiter, *fakeClock) {
	c := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := NewLimiter(c.now, 30*time.Second)
	l.Configure(q)
	return l, c
}

func take(t *testing.T, l *Limiter, p string, k Kind, n float64) time.Duration {
	t.Helper()
	d, err := l.Take(p, k, n)
	if err != nil {
		t.Fatalf("Take(%s, %v, %v): %v", p, k, n, err)
	}
	return d
}

// TestNoQuotaNoThrottle: without quotas, and for a principal no quota
// names while another does, nothing is ever throttled.
func TestNoQuotaNoThrottle(t *testing.T) {
	l, _ := newTestLimiter(Quotas{})
	if l.Active() {
		t.Fatal("active with no quota")
	}
	for range 1000 {
		if d := take(t, l, "User:a", Produce, 1e12); d != 0 {
			t.Fatalf("throttled %v with no quota", d)
		}
	}
	l.Configure(Quotas{Principals: map[string]Limits{"User:a": {ProduceBytes: 10}}})
	for _, k := range Kinds() {
		if d := take(t, l, "User:b", k, 1e12); d != 0 {
			t.Fatalf("User:b, with no quota, throttled %v on %v", d, k)
		}
	}
	if d := take(t, l, "User:a", Consume, 1e12); d != 0 {
		t.Fatalf("User:a throttled %v on consume, which its quota does not set", d)
	}
}

// TestThrottleIsTheDebtOverTheRate: a burst's worth passes at once; past
// it, the throttle is the time the rate takes to earn the shortfall.
func TestThrottleIsTheDebtOverTheRate(t *testing.T) {
	l, c := newTestLimiter(Quotas{Principals: map[string]Limits{"User:a": {ProduceBytes: 100}}})
	if d := take(t, l, "User:a", Produce, 100); d != 0 {
		t.Fatalf("the first burst throttled %v", d)
	}
	if d := take(t, l, "User:a", Produce, 50); d != 500*time.Millisecond {
		t.Fatalf("50 bytes over a 100 B/s rate: throttled %v, want 500ms", d)
	}
	c.advance(500 * time.Millisecond) // the debt is paid
	if d := take(t, l, "User:a", Produce, 25); d != 250*time.Millisecond {
		t.Fatalf("after waiting: throttled %v, want 250ms", d)
	}
	c.advance(10 * time.Second) // idle: full again, and no more
	if d := take(t, l, "User:a", Produce, 100); d != 0 {
		t.Fatalf("after idling: throttled %v", d)
	}
	if d := take(t, l, "User:a", Produce, 1); d != 10*time.Millisecond {
		t.Fatalf("idling earned more than a burst: throttled %v, want 10ms", d)
	}
}

// TestHeldToTheRate: callers that wait out their throttle before their
// next request (one, or several sharing the principal) get through at
// most rate*t + burst in t seconds, and not much less than rate*t.
func TestHeldToTheRate(t *testing.T) {
	for _, streams := range []int{1, 3} {
		for _, size := range []float64{1, 700, 5000} {
			t.Run(fmt.Sprintf("streams=%d,size=%v", streams, size), func(t *testing.T) {
				const rate = 10_000.0
				l, c := newTestLimiter(Quotas{Default: Limits{ProduceBytes: rate}})
				start := c.now()
				ready := make([]time.Time, streams) // when each stream may send again
				for i := range ready {
					ready[i] = start
				}
				taken := 0.0
				for c.now().Sub(start) < 60*time.Second {
					i := 0 // the stream that may send first
					for j := range ready {
						if ready[j].Before(ready[i]) {
							i = j
						}
					}
					if ready[i].After(c.now()) {
						c.advance(ready[i].Sub(c.now()))
					}
					d := take(t, l, "User:a", Produce, size)
					taken += size
					ready[i] = c.now().Add(d)
					// NB: answered once its throttle is over: bounded then.
					elapsed := ready[i].Sub(start).Seconds()
					if limit := rate*elapsed + rate*Burst.Seconds(); taken > limit+1e-6 {
						t.Fatalf("%v bytes answered in %.3fs: more than %v", taken, elapsed, limit)
					}
				}
				elapsed := c.now().Sub(start).Seconds()
				if low := rate*elapsed - float64(streams)*size; taken < low {
					t.Fatalf("%v bytes in %.3fs: held below the rate (%v)", taken, elapsed, low)
				}
			})
		}
	}
}

// TestExceeded: a request that would wait past the cap takes nothing and
// fails ErrExceeded, naming the principal, the quota and the rate.
func TestExceeded(t *testing.T) {
	l, _ := newTestLimiter(Quotas{Principals: map[string]Limits{"User:a": {Requests: 10}}})
	take(t, l, "User:a", Request, 10)
	_, err := l.Take("User:a", Request, 301)
	if !errors.Is(err, ErrExceeded) {
		t.Fatalf("a 30.1s throttle: %v, want ErrExceeded", err)
	}
	for _, want := range []string{`"User:a"`, "request quota", "10 requests/s", "30.1s", "30s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if d := take(t, l, "User:a", Request, 300); d != 30*time.Second {
		t.Fatalf("after a refused request: throttled %v, want 30s (the refused one took nothing)", d)
	}
}

// TestResolution: a principal's own rate of a kind wins; a kind its quota
// does not set is the default's.
func TestResolution(t *testing.T) {
	q := Quotas{Default: Limits{ProduceBytes: 1, ConsumeBytes: 2}, Principals: map[string]Limits{"User:a": {ProduceBytes: 5, Requests: 7}}}
	for _, c := range []struct {
		p    string
		k    Kind
		want float64
	}{
		{"User:a", Produce, 5}, {"User:a", Consume, 2}, {"User:a", Request, 7},
		{"User:b", Produce, 1}, {"User:b", Consume, 2}, {"User:b", Request, 0},
	} {
		if got := q.Rate(c.p, c.k); got != c.want {
			t.Errorf("%s %v: %v, want %v", c.p, c.k, got, c.want)
		}
	}
}

// TestConfigure: a changed rate keeps the bucket's debt, capped at the
// new burst; a rate no longer set forgets the bucket; no quota left turns
// the limiter off.
func TestConfigure(t *testing.T) {
	l, _ := newTestLimiter(Quotas{Principals: map[string]Limits{"User:a": {ProduceBytes: 100, ConsumeBytes: 100}}})
	take(t, l, "User:a", Produce, 150) // 50 in debt
	take(t, l, "User:a", Consume, 10)
	l.Configure(Quotas{Principals: map[string]Limits{"User:a": {ProduceBytes: 10}}})
	if d := take(t, l, "User:a", Produce, 10); d != 6*time.Second {
		t.Fatalf("60 in debt at 10 B/s: throttled %v, want 6s", d)
	}
	if _, ok := l.buckets[bucketKey{"User:a", Consume}]; ok {
		t.Fatal("a bucket kept for a rate no longer set")
	}
	l.Configure(Quotas{})
	if l.Active() || len(l.buckets) != 0 {
		t.Fatalf("with no quota: active %v, %d buckets", l.Active(), len(l.buckets))
	}
}

// TestSweep: buckets of principals back under their rate are forgotten
// once there are many, and those in debt kept.
func TestSweep(t *testing.T) {
	l, c := newTestLimiter(Quotas{Default: Limits{Requests: 1}})
	take(t, l, "User:debtor", Request, 20) // 19 s of debt: kept
	for i := range minSweep - 1 {          // the debtor makes minSweep
		take(t, l, fmt.Sprintf("User:u%d", i), Request, 1)
	}
	c.advance(2 * time.Second) // the others are full again
	take(t, l, "User:late", Request, 1)
	if _, ok := l.buckets[bucketKey{"User:debtor", Request}]; !ok || len(l.buckets) != 2 {
		t.Fatalf("after a sweep: %d buckets, the debtor's kept: %v", len(l.buckets), ok)
	}
}

// TestTakeAllocatesNothing: neither the limiter without quotas nor a
// principal's bucket once made allocates per request.
func TestTakeAllocatesNothing(t *testing.T) {
	off, _ := newTestLimiter(Quotas{})
	on, c := newTestLimiter(Quotas{Default: Limits{ProduceBytes: 1e12}})
	take(t, on, "User:a", Produce, 1)
	for name, l := range map[string]*Limiter{"no quota": off, "a quota": on} {
		if n := testing.AllocsPerRun(1000, func() {
			c.advance(time.Millisecond)
			if _, err := l.Take("User:a", Produce, 1000); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per Take", name, n)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		l    Limits
		want string // "" for valid
	}{
		{Limits{ProduceBytes: 1}, ""},
		{Limits{ConsumeBytes: 1e9, Requests: 0.5}, ""},
		{Limits{}, "no rate set"},
		{Limits{ProduceBytes: -1}, "the produce rate is -1: give a positive number of bytes/s"},
		{Limits{Requests: inf()}, "the request rate is +Inf"},
	} {
		err := c.l.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.l, err, c.want)
		}
	}
	for p, want := range map[string]string{"User:alice": "", "": "no principal", "*": "set the default quota",
		"alice": "not TYPE:NAME", "User:": "not TYPE:NAME", ":x": "not TYPE:NAME", "User:a b": "not TYPE:NAME"} {
		err := ValidatePrincipal(p)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("principal %q: %v, want %q", p, err, want)
		}
	}
}

func inf() float64 { return math.Inf(1) }
