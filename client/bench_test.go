package client_test

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"

	"github.com/runnel-broker/runnel/client"
)

// BenchmarkProducer is the SDK producer's throughput on one broker with
// 1 KiB random records to a one-partition topic, the default defaults,
// to compare with `runnel bench produce` (raw stubs): see
// docs/benchmarks.md.
func BenchmarkProducer(b *testing.B) {
	br := startBroker(b)
	c := newClient(b, br.addr)
	createTopic(b, c, "bench", 1, 1)
	p := c.Producer()
	defer p.Close()
	value := make([]byte, 1024)
	_, _ = rand.Read(value)
	ctx := context.Background()
	var failed atomic.Int64
	done := func(_ client.Ack, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	b.SetBytes(int64(len(value)))
	// NB: b.N, not b.Loop: Loop stops the timer as it ends, and the
	// records' acks (Flush) are what is measured.
	b.ResetTimer()
	for range b.N {
		p.Produce(ctx, &client.Record{Topic: "bench", Value: value}, done)
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d records failed", n)
	}
}
