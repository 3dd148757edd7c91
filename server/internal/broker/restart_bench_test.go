package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/server/internal/offsets"
)

// BenchmarkRestartAfterCommits measures how long a broker takes to start
// on a data directory whose __consumer_offsets log took
// RUNNEL_BENCH_COMMITS commits (default 100,000), one offset each, from
// 10,000 groups over a topic of 8 partitions: with snapshots off, the
// start replays every commit; with them on (the default policy), it
// restores the snapshots and replays at most the entries after the last
// one. Each sub-benchmark restarts the broker b.N times and reports the
// median start (Start returned: the internal logs are applied and every
// partition is open) as ms/start; run with -benchtime=3x for the median of
// three. See docs/benchmarks.md.
func BenchmarkRestartAfterCommits(b *testing.B) {
	commits := 100_000
	if s := os.Getenv("RUNNEL_BENCH_COMMITS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		commits = n
	}
	for _, mode := range []struct {
		name  string
		every int
	}{{"snapshots=off", -1}, {"snapshots=on", 0}} {
		dir := b.TempDir()
		setup := time.Now()
		fillOffsets(b, dir, mode.every, commits)
		b.Logf("%s: %d commits written in %v", mode.name, commits, time.Since(setup).Round(time.Millisecond))
		b.Run(mode.name, func(b *testing.B) {
			var starts []time.Duration
			for range b.N {
				t0 := time.Now()
				br := startBenchBroker(b, dir, mode.every)
				starts = append(starts, time.Since(t0))
				if got := br.offsets.Committed("g9999", br.mustTopicID(b, "bench")); len(got) == 0 && commits >= 10_000 {
					b.Fatalf("group g9999 has no commits after the restart")
				}
				if err := br.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.Logf("%s: starts %v; the offsets logs take %d bytes", mode.name, starts, offsetsBytes(b, dir))
			slices.Sort(starts)
			b.ReportMetric(float64(starts[len(starts)/2].Microseconds())/1000, "ms/start")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// offsetsBytes is the size of the __consumer_offsets partitions' files.
func offsetsBytes(b *testing.B, dir string) int64 {
	var n int64
	for i := range offsets.Partitions {
		files, err := os.ReadDir(filepath.Join(dir, fmt.Sprintf("%s-%d", offsets.Topic, i)))
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range files {
			if info, err := f.Info(); err == nil && strings.HasSuffix(f.Name(), ".log") || f.Name() == "snapshot" {
				n += info.Size()
			}
		}
	}
	return n
}

func (br *Broker) mustTopicID(b *testing.B, name string) string {
	t, err := br.catalog.Topic(name)
	if err != nil {
		b.Fatal(err)
	}
	return t.ID
}

func startBenchBroker(b *testing.B, dir string, every int) *Broker {
	b.Helper()
	br, err := New(Config{
		DataDir:                 dir,
		RetentionCheckInterval:  time.Minute,
		InternalSnapshotEntries: every,
		Logger:                  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := br.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return br
}

// fillOffsets commits n offsets into a new broker in dir, from 64
// goroutines at once so that the group commit batches their fsyncs.
func fillOffsets(b *testing.B, dir string, every, n int) {
	br := startBenchBroker(b, dir, every)
	ctx := context.Background()
	if _, err := br.CreateTopic(ctx, "bench", 8, 1, nil); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				group := fmt.Sprintf("g%d", i%10_000)
				if err := br.Commit(ctx, group, "bench", map[int32]int64{int32(i % 8): i}, MemberCommit{}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	if err := br.Close(); err != nil {
		b.Fatal(err)
	}
}
