package server

import (
	"context"
	"testing"

	"github.com/runnel-broker/runnel/server/internal/quota"
)

// fixedQuotas is a quotaSource that never changes.
type fixedQuotas struct{ q quota.Quotas }

func (f fixedQuotas) Quotas() (quota.Quotas, uint64) { return f.q, 1 }
func (f fixedQuotas) QuotasVersion() uint64          { return 1 }

var throttlerCases = []struct {
	name string
	q    quota.Quotas
}{
	{"no-quota", quota.Quotas{}},
	{"others-have-one", quota.Quotas{Principals: map[string]quota.Limits{"User:other": {ProduceBytes: 1}}}},
	{"under-its-quota", quota.Quotas{Principals: map[string]quota.Limits{"User:alice": {ProduceBytes: 1e15, Requests: 1e15}}}},
}

// TestThrottlerAllocatesNothing: accounting for a produce request (a
// request and its bytes) allocates nothing, with no quota or under one.
func TestThrottlerAllocatesNothing(t *testing.T) {
	ctx := context.WithValue(context.Background(), principalKey{}, "User:alice")
	for _, c := range throttlerCases {
		th := newThrottler(fixedQuotas{c.q})
		take := func() {
			if _, err := th.take(ctx, quota.Request, 1); err != nil {
				t.Fatal(err)
			}
			if _, err := th.take(ctx, quota.Produce, 1024); err != nil {
				t.Fatal(err)
			}
		}
		take() // NB: makes the buckets
		if n := testing.AllocsPerRun(1000, take); n != 0 {
			t.Errorf("%s: %v allocations per request", c.name, n)
		}
	}
}

// BenchmarkThrottler: the cost of the quota check on the produce path
// (a request and its bytes), per request.
func BenchmarkThrottler(b *testing.B) {
	ctx := context.WithValue(context.Background(), principalKey{}, "User:alice")
	for _, c := range throttlerCases {
		b.Run(c.name, func(b *testing.B) {
			th := newThrottler(fixedQuotas{c.q})
			b.ReportAllocs()
			for b.Loop() {
				th.take(ctx, quota.Request, 1)
				th.take(ctx, quota.Produce, 1024)
			}
		})
	}
}
