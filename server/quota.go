package server

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/quota"
)

// maxThrottle is the longest a request is throttled: one that would need
// longer fails RESOURCE_EXHAUSTED (quota.ErrExceeded) instead.
const maxThrottle = 30 * time.Second

// throttler enforces the cluster's quotas on this broker's client
// listener, as each Kafka broker enforces its share: it accounts for each
// principal's requests and delays one over its rates: its responses (a
// Produce stream's acks, a Subscribe's batches) or, for a call over its
// request rate, the call itself.
// Calls on the peer listener were accounted where the client called.
type throttler struct {
	quotas  quotaSource
	limiter *quota.Limiter
	// version is the quotas' version the limiter has; mu serializes
	// configuring it.
	version atomic.Uint64
	mu      sync.Mutex

	throttleSeconds *prometheus.CounterVec // principal, kind
	throttled       *prometheus.CounterVec // kind
	exceeded        *prometheus.CounterVec // kind
}

// quotaSource is where the quotas are: the broker's metadata.
type quotaSource interface {
	Quotas() (quota.Quotas, uint64)
	QuotasVersion() uint64
}

func newThrottler(src quotaSource) *throttler {
	t := &throttler{quotas: src, limiter: quota.NewLimiter(time.Now, maxThrottle),
		throttleSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_quota_throttle_seconds_total",
			Help: "Time a principal's calls and responses were delayed for being over its quota, by principal and kind (produce, consume, request)."},
			[]string{"principal", "kind"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_quota_throttled_requests_total",
			Help: "Requests (and subscribe responses) throttled for a principal over its quota, by kind."}, []string{"kind"}),
		exceeded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_quota_exceeded_total",
			Help: "Requests refused RESOURCE_EXHAUSTED: their throttle would have exceeded the 30 s limit, by kind."}, []string{"kind"}),
	}
	// NB: each kind's series exists from the start, at 0.
	for _, k := range quota.Kinds() {
		t.throttled.WithLabelValues(k.String())
		t.exceeded.WithLabelValues(k.String())
	}
	return t
}

func (t *throttler) collectors() []prometheus.Collector {
	return []prometheus.Collector{t.throttleSeconds, t.throttled, t.exceeded}
}

// take accounts for n of kind k by ctx's principal and returns how long
// to throttle it; quota.ErrExceeded past the limit. Without any quota, or
// on the peer listener, it returns 0 at once.
func (t *throttler) take(ctx context.Context, k quota.Kind, n int) (time.Duration, error) {
	if ctx.Value(peerListenerKey{}) != nil {
		return 0, nil
	}
	if v := t.quotas.QuotasVersion(); v != t.version.Load() {
		t.configure()
	}
	if !t.limiter.Active() {
		return 0, nil
	}
	p := principalOf(ctx)
	d, err := t.limiter.Take(p, k, float64(n))
	if err != nil {
		t.exceeded.WithLabelValues(k.String()).Inc()
		return 0, err
	}
	if d > 0 {
		t.throttleSeconds.WithLabelValues(p, k.String()).Add(d.Seconds())
		t.throttled.WithLabelValues(k.String()).Inc()
	}
	return d, nil
}

// configure gives the limiter the broker's quotas.
func (t *throttler) configure() {
	t.mu.Lock()
	defer t.mu.Unlock()
	q, v := t.quotas.Quotas()
	if v != t.version.Load() {
		t.limiter.Configure(q)
		t.version.Store(v)
	}
}

// pause waits d, or until ctx or stopping ends.
func pause(ctx, stopping context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	case <-stopping.Done():
	}
}

// interceptors are the request-rate quota's, go-grpc-middleware's
// ratelimit on every unary call of the client API and every Subscribe:
// its Limiter throttles the call, waiting its delay before it is served
// (Kafka delays the response instead; the rate is the same, and either
// way the client's deadline runs meanwhile), and refuses it,
// RESOURCE_EXHAUSTED, only past the hard limit. Produce requests are
// accounted in the stream, by bytes.
func (t *throttler) interceptors(stopping context.Context) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	limiter := requestLimiter{t: t, stopping: stopping}
	unary := selector.UnaryServerInterceptor(ratelimit.UnaryServerInterceptor(limiter),
		selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool { return clientAPI(c.FullMethod()) }))
	stream := selector.StreamServerInterceptor(ratelimit.StreamServerInterceptor(limiter),
		selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
			return c.FullMethod() == runnelv1.SubscribeService_Subscribe_FullMethodName
		}))
	return unary, stream
}

// requestLimiter is the request-rate quota as a ratelimit.Limiter.
type requestLimiter struct {
	t        *throttler
	stopping context.Context // the server's: a throttled call ends with it
}

// Limit takes one request of ctx's principal and waits its throttle;
// quota.ErrExceeded past the hard limit. A call whose ctx ends meanwhile
// goes on to its handler, which sees ctx ended.
func (l requestLimiter) Limit(ctx context.Context) error {
	d, err := l.t.take(ctx, quota.Request, 1)
	if err != nil {
		return err
	}
	pause(ctx, l.stopping, d)
	return nil
}

// clientAPI says whether a method is of the client API (runnel.v1), not
// health or reflection.
func clientAPI(method string) bool { return strings.HasPrefix(method, "/runnel.v1.") }

// SetQuota sets a principal's quota, or the default.
func (s *adminService) SetQuota(ctx context.Context, req *runnelv1.SetQuotaRequest) (*runnelv1.SetQuotaResponse, error) {
	q := req.GetQuota()
	if q == nil {
		return nil, invalid("no quota: set quota, with a principal (or is_default) and at least one rate")
	}
	var l quota.Limits
	for _, r := range []struct {
		name string
		v    *float64
		to   *float64
	}{
		{"produce_bytes_per_sec", q.ProduceBytesPerSec, &l.ProduceBytes},
		{"consume_bytes_per_sec", q.ConsumeBytesPerSec, &l.ConsumeBytes},
		{"requests_per_sec", q.RequestsPerSec, &l.Requests},
	} {
		if r.v == nil {
			continue
		}
		if !(*r.v > 0) {
			return nil, invalid("%s is %v: give a positive rate, or leave it unset for none", r.name, *r.v)
		}
		*r.to = *r.v
	}
	if err := s.broker.SetQuota(ctx, q.Principal, q.IsDefault, l); err != nil {
		return nil, toStatus(err)
	}
	return &runnelv1.SetQuotaResponse{}, nil
}

// ListQuotas lists the quotas as this broker knows them: the default
// first, then by principal.
func (s *adminService) ListQuotas(context.Context, *runnelv1.ListQuotasRequest) (*runnelv1.ListQuotasResponse, error) {
	q, _ := s.broker.Quotas()
	resp := &runnelv1.ListQuotasResponse{}
	if !q.Default.IsZero() {
		resp.Quotas = append(resp.Quotas, quotaProto("", q.Default))
	}
	for _, p := range slices.Sorted(maps.Keys(q.Principals)) {
		resp.Quotas = append(resp.Quotas, quotaProto(p, q.Principals[p]))
	}
	return resp, nil
}

// DeleteQuota deletes a principal's quota, or the default.
func (s *adminService) DeleteQuota(ctx context.Context, req *runnelv1.DeleteQuotaRequest) (*runnelv1.DeleteQuotaResponse, error) {
	deleted, err := s.broker.DeleteQuota(ctx, req.Principal, req.IsDefault)
	if err != nil {
		return nil, toStatus(err)
	}
	return &runnelv1.DeleteQuotaResponse{Deleted: deleted}, nil
}

func quotaProto(principal string, l quota.Limits) *runnelv1.Quota {
	q := &runnelv1.Quota{Principal: principal, IsDefault: principal == ""}
	rate := func(v float64) *float64 {
		if v == 0 {
			return nil
		}
		return &v
	}
	q.ProduceBytesPerSec, q.ConsumeBytesPerSec, q.RequestsPerSec = rate(l.ProduceBytes), rate(l.ConsumeBytes), rate(l.Requests)
	return q
}
