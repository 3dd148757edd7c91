package client_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/runnel-broker/runnel/client"
	"github.com/runnel-broker/runnel/compression"
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

// BenchmarkProducerCompression is the SDK producer's throughput with each
// codec, for 1 KiB records that compress (JSON-like) and that do not
// (random), and the bytes they take on the broker's disk per record
// (disk-B/record, the segments once the broker has shut down and trimmed
// them): see docs/benchmarks.md. Records cycle through 4096 distinct
// values, 4 MiB, so a batch (1 MiB) never holds the same record twice.
func BenchmarkProducerCompression(b *testing.B) {
	const pool = 4096
	random, json := make([][]byte, pool), make([][]byte, pool)
	for i := range pool {
		random[i] = make([]byte, 1024)
		_, _ = rand.Read(random[i])
		json[i] = jsonLike(i, 1024)
	}
	for _, data := range []struct {
		name   string
		values [][]byte
	}{{"json", json}, {"random", random}} {
		for _, codec := range compression.Codecs {
			b.Run(data.name+"/"+codec.String(), func(b *testing.B) {
				br := startBroker(b)
				c := newClient(b, br.addr)
				createTopic(b, c, "bench", 1, 1)
				p := c.Producer(client.WithCompression(codec))
				ctx := context.Background()
				var failed atomic.Int64
				done := func(_ client.Ack, err error) {
					if err != nil {
						failed.Add(1)
					}
				}
				b.SetBytes(1024)
				b.ResetTimer()
				for i := range b.N {
					p.Produce(ctx, &client.Record{Topic: "bench", Value: data.values[i%pool]}, done)
				}
				if err := p.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				p.Close()
				c.Close()
				if n := failed.Load(); n > 0 {
					b.Fatalf("%d records failed", n)
				}
				br.stop()
				b.ReportMetric(float64(segmentBytes(b, br.dataDir))/float64(b.N), "disk-B/record")
			})
		}
	}
}

// jsonLike returns n bytes of JSON such as services log, the seed-th of
// its kind: repeated keys, values that vary.
func jsonLike(seed, n int) []byte {
	var out []byte
	for i := seed * 7; len(out) < n; i++ {
		out = fmt.Appendf(out, `{"id":%d,"user":"user-%d","event":"page_view","path":"/products/%d","ms":%d,"ok":%t},`,
			1_000_000+i*7919, i*104729%9973, i*31%1000, i*i%977, i%7 != 0)
	}
	return out[:n]
}

// segmentBytes is the size of the log segments under dir.
func segmentBytes(b *testing.B, dir string) int64 {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".log" || !strings.Contains(path, "bench-0") {
			return err
		}
		info, err := d.Info()
		if err == nil {
			total += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}
