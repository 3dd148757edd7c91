package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure produce and consume throughput against a broker"}
	cmd.AddCommand(newBenchProduceCommand(), newBenchConsumeCommand())
	return cmd
}

type produceBench struct {
	topic                      string
	partitions, replication    int32
	acks                       acksFlag
	recordSize, batchBytes     int
	inFlight, streams          int
	linger, deliveryTimeout    time.Duration
	duration, progressInterval time.Duration
	rateMBps                   float64
	keepGoing                  bool
	compression                string
	codec                      compression.Codec
}

func newBenchProduceCommand() *cobra.Command {
	b := produceBench{}
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce fixed-size records with the Go SDK's producer as fast as acks allow (or at --rate-mbps) and report throughput and ack latency",
		Long: `Produce fixed-size records with the Go SDK's producer (client.Producer) for
--duration, as fast as acks allow or at --rate-mbps, and report throughput and
each record's ack latency (from Produce to its ack, the wait for buffer room
included). The SDK's producer has one batch in flight per partition, so each
of --streams runs --in-flight producers, each with one batch in flight and
one filling (--batch-bytes, or less after --linger): the same number of
requests in flight as a stream of pipelined requests. Each batch goes to its
partition's leader, retried on UNAVAILABLE (a leader moved, a broker died)
until --delivery-timeout.

A record that fails stops the run, unless --keep-going. When the run ends
(its duration, a failure, or an interrupt: a second one stops at once), the
bench waits for the records in flight and prints its summary: what was
acknowledged, the latencies, the batches retried, and the failed records
counted by error.`,
		Example: `  runnel bench produce --record-size 1024 --batch-bytes 524288 --in-flight 2 --duration 20s
  runnel bench produce --partitions 3 --streams 3 --duration 20s
  runnel bench produce --rate-mbps 100 --duration 20s`,
		Args: cobra.NoArgs,
	}
	dial := adminFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&b.topic, "topic", "bench", "topic to write (created if missing)")
	f.Int32Var(&b.partitions, "partitions", 1, "partitions when the topic is created")
	f.Int32Var(&b.replication, "replication-factor", 0, "replication factor when the topic is created (0: the broker's default)")
	f.Var(&b.acks, "acks", acksUsage)
	f.IntVar(&b.recordSize, "record-size", 1024, "bytes of each record's value (random, incompressible)")
	f.IntVar(&b.batchBytes, "batch-bytes", 512<<10, "most record bytes per batch, one produce request (the producer's WithMaxBatchBytes)")
	f.DurationVar(&b.linger, "linger", 5*time.Millisecond, "how long a batch waits to fill before it is sent")
	f.DurationVar(&b.deliveryTimeout, "delivery-timeout", 30*time.Second, "how long a record may take, retries included, before it fails")
	f.IntVar(&b.inFlight, "in-flight", 2, "unacknowledged batches per stream: producers per stream, each with one batch in flight")
	f.IntVar(&b.streams, "streams", 1, "concurrent streams of --in-flight producers, each producer with its own stream to each broker")
	f.DurationVar(&b.duration, "duration", 20*time.Second, "how long to produce")
	f.DurationVar(&b.progressInterval, "progress", time.Second, "interval of the progress line on stderr")
	f.Float64Var(&b.rateMBps, "rate-mbps", 0, "target MB/s of record values (0: as fast as possible)")
	f.StringVar(&b.compression, "compression", "none", "the producer's batch codec: none, gzip, snappy, lz4 or zstd (the records are random: this measures the codec's cost)")
	f.BoolVar(&b.keepGoing, "keep-going", false, "on a failed record, count it and go on instead of stopping: for measuring failovers")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case b.recordSize <= 0 || b.batchBytes < b.recordSize:
			return errors.New("want --record-size > 0 and --batch-bytes >= --record-size")
		case b.streams <= 0 || b.inFlight <= 0 || b.linger < 0 || b.deliveryTimeout <= 0 || b.duration <= 0 || b.progressInterval <= 0:
			return errors.New("want --streams, --in-flight, --delivery-timeout, --duration and --progress > 0, and --linger >= 0")
		case b.rateMBps < 0:
			return errors.New("want --rate-mbps >= 0")
		}
		codec, err := compression.Parse(b.compression)
		if err != nil {
			return fmt.Errorf("--compression: %w", err)
		}
		b.codec = codec
		// NB: the producer logs through its client's logger: the bench's
		// counts the batches it retries.
		var retried atomic.Int64
		adm, c, err := dial(cmd.Context(), client.WithLogger(slog.New(retryCounter{&retried})))
		if err != nil {
			return err
		}
		defer c.Close()
		if err := ensureTopic(cmd.Context(), adm, b.topic, b.partitions, b.replication); err != nil {
			return err
		}
		return b.run(cmd, c, &retried)
	}
	return cmd
}

func ensureTopic(ctx context.Context, adm *client.Admin, topic string, partitions, replication int32) error {
	_, err := adm.CreateTopic(ctx, topic, partitions, replication, nil)
	if status.Code(err) == codes.AlreadyExists {
		return nil
	}
	return err
}

// benchStats is shared by the producers (or the reader) of a run. Each
// producer counts in a shard of its own, so that the acks of one do not
// contend with another's.
type benchStats struct {
	lastAck    atomic.Int64 // unix nanoseconds
	longestGap atomic.Int64 // the longest time without an ack, in nanoseconds

	mu       sync.Mutex // guards shards, failures and firstErr
	shards   []*statShard
	failures map[string]int64
	failed   int64
	firstErr error
}

type statShard struct {
	s              *benchStats
	records, bytes atomic.Int64
	latency        histogram
}

func (s *benchStats) shard() *statShard {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := &statShard{s: s}
	s.shards = append(s.shards, sh)
	return sh
}

// add counts records acknowledged (or read) at now.
func (sh *statShard) add(records, bytes int64, latency time.Duration, now time.Time) {
	sh.records.Add(records)
	sh.bytes.Add(bytes)
	sh.latency.record(latency)
	sh.s.acked(now.UnixNano())
}

// acked notes an ack at now for the longest time without one, to 100µs:
// the acks of a batch come together, and need not all write.
func (s *benchStats) acked(now int64) {
	if now-s.lastAck.Load() < int64(100*time.Microsecond) {
		return
	}
	if last := s.lastAck.Swap(now); last != 0 {
		for gap := now - last; ; {
			g := s.longestGap.Load()
			if gap <= g || s.longestGap.CompareAndSwap(g, gap) {
				break
			}
		}
	}
}

// counts sums the shards' records and bytes.
func (s *benchStats) counts() (records, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sh := range s.shards {
		records += sh.records.Load()
		bytes += sh.bytes.Load()
	}
	return records, bytes
}

// totals sums the shards: records, bytes, and the latencies.
func (s *benchStats) totals() (records, bytes int64, latency *histogram) {
	s.mu.Lock()
	defer s.mu.Unlock()
	latency = &histogram{}
	for _, sh := range s.shards {
		records += sh.records.Load()
		bytes += sh.bytes.Load()
		latency.merge(&sh.latency)
	}
	return records, bytes, latency
}

// fail counts a failed record under its error; it says whether it is the
// run's first failure.
func (s *benchStats) fail(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures == nil {
		s.failures = map[string]int64{}
	}
	s.failures[errorKind(err)]++
	s.failed++
	if s.firstErr == nil {
		s.firstErr = err
		return true
	}
	return false
}

// errorKind is what failures are counted by: the broker's status (its
// code and message), without what varies from one record to the next
// (which record, how many attempts).
func errorKind(err error) string {
	var re *client.RecordError
	if errors.As(err, &re) {
		err = re.Err
	}
	kind := describeError(err)
	if st, ok := status.FromError(err); ok {
		kind = codeName(st.Code()) + ": " + innermostMessage(err)
		if strings.HasPrefix(err.Error(), "delivery timeout") {
			kind = "delivery timeout, the last attempt's " + kind
		}
	}
	return kind
}

// innermostMessage is the message of the status err wraps, deepest first.
func innermostMessage(err error) string {
	msg := status.Convert(err).Message()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := e.(interface{ GRPCStatus() *status.Status }); ok {
			msg = s.GRPCStatus().Message()
		}
	}
	return msg
}

// retryCounter is a slog handler that counts the producer's retried
// batches (the logs it writes for them), and drops every log.
type retryCounter struct{ retried *atomic.Int64 }

func (h retryCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h retryCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "runnel producer: retrying a batch" {
		h.retried.Add(1)
	}
	return nil
}

func (h retryCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h retryCounter) WithGroup(string) slog.Handler      { return h }

func (b produceBench) run(cmd *cobra.Command, c *client.Client, retried *atomic.Int64) error {
	value := make([]byte, b.recordSize)
	_, _ = rand.Read(value)
	// NB: one record for every Produce: the producer only reads it.
	rec := &client.Record{Topic: b.topic, Value: value}
	// Rate limiting paces chunks of a batch's worth of records.
	chunk := b.batchBytes / b.recordSize
	var interval time.Duration // between chunks of one producer's records
	if b.rateMBps > 0 {
		perProducer := b.rateMBps * 1e6 / float64(b.streams*b.inFlight)
		interval = time.Duration(float64(chunk*b.recordSize) / perProducer * float64(time.Second))
	}

	opts := []client.ProducerOption{client.WithAcks(runnelv1.Acks(b.acks)), client.WithLinger(b.linger),
		client.WithMaxBatchBytes(b.batchBytes), client.WithDeliveryTimeout(b.deliveryTimeout),
		// NB: room for a batch in flight and one filling: the producer
		// has one request in flight per partition, the others wait
		// their turn in Produce, as a pipelined stream's window does.
		client.WithMaxBufferedBytes(2 * int64(b.batchBytes)), client.WithCompression(b.codec)}

	ctx, cancel := context.WithTimeout(cmd.Context(), b.duration)
	defer cancel()
	stopped := make(chan struct{}) // closed on the first failure, unless --keep-going
	var stopOnce sync.Once
	stats := &benchStats{}
	start := time.Now()
	stopProgress := progress(cmd, b.progressInterval, start, stats)
	var wg sync.WaitGroup
	producers := make([]*client.Producer, b.streams*b.inFlight)
	for i := range producers {
		p := c.Producer(opts...)
		producers[i] = p
		sh := stats.shard()
		wg.Go(func() {
			next := time.Now()
			for n := 0; ; n++ {
				if interval > 0 && n%chunk == 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
						case <-stopped:
						}
					}
					next = next.Add(interval)
				}
				select {
				case <-ctx.Done():
					return
				case <-stopped:
					return
				default:
				}
				sent := time.Now()
				p.Produce(ctx, rec, func(_ client.Ack, err error) {
					switch {
					case err == nil:
						now := time.Now()
						sh.add(1, int64(len(value)), now.Sub(sent), now)
					case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
						// NB: Produce gave up waiting for buffer room as the
						// run ended: the record was never sent.
					case stats.fail(err) && !b.keepGoing:
						stopOnce.Do(func() { close(stopped) })
					}
				})
			}
		})
	}
	wg.Wait()
	end := time.Now()
	interrupted := cmd.Context().Err() != nil
	var inFlight atomic.Int64
	for _, p := range producers {
		wg.Go(func() {
			if err := p.Close(); err != nil {
				inFlight.Add(1)
			}
		})
	}
	wg.Wait()
	stopProgress()
	elapsed := time.Since(start)
	report(cmd, "produce", elapsed, stats)
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "batches retried: %d\n", retried.Load())
	if interrupted {
		fmt.Fprintf(out, "interrupted after %.2fs of %s\n", end.Sub(start).Seconds(), b.duration)
	}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.failed > 0 {
		fmt.Fprintf(out, "failed: %d records\n", stats.failed)
		kinds := slices.Collect(maps.Keys(stats.failures))
		slices.SortFunc(kinds, func(x, y string) int {
			return cmp.Or(cmp.Compare(stats.failures[y], stats.failures[x]), cmp.Compare(x, y))
		})
		for _, k := range kinds {
			fmt.Fprintf(out, "%10d  %s\n", stats.failures[k], k)
		}
	}
	if n := inFlight.Load(); n > 0 {
		fmt.Fprintf(out, "%d producer(s) still had records in flight after --delivery-timeout\n", n)
	}
	if stats.failed > 0 && !b.keepGoing {
		return fmt.Errorf("%d records failed, the first: %w", stats.failed, stats.firstErr)
	}
	return nil
}

func newBenchConsumeCommand() *cobra.Command {
	var (
		topic         string
		maxBatchBytes int32
		interval      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Read a topic from the earliest offset to its end and report throughput",
		Args:  cobra.NoArgs,
	}
	dial := brokerFlag(cmd)
	cmd.Flags().StringVar(&topic, "topic", "bench", "topic to read")
	cmd.Flags().Int32Var(&maxBatchBytes, "max-batch-bytes", 1<<20, "record bytes per response")
	cmd.Flags().DurationVar(&interval, "progress", time.Second, "interval of the progress line on stderr")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		stream, err := c.Subscribe.Subscribe(cmd.Context(), &runnelv1.SubscribeRequest{
			Topic: topic, StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST, MaxBatchBytes: maxBatchBytes,
		})
		if err != nil {
			return err
		}
		stats := &benchStats{}
		sh := stats.shard()
		start := time.Now()
		stopProgress := progress(cmd, interval, start, stats)
		last := start
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				stopProgress()
				return err
			}
			var n int64
			for _, r := range resp.Batch.Records {
				n += int64(len(r.Value))
			}
			now := time.Now()
			sh.add(int64(len(resp.Batch.Records)), n, now.Sub(last), now)
			last = now
		}
		stopProgress()
		report(cmd, "consume", time.Since(start), stats)
		return nil
	}
	return cmd
}

// progress prints a line to stderr every interval until the returned
// function is called.
func progress(cmd *cobra.Command, interval time.Duration, start time.Time, s *benchStats) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				el := time.Since(start).Seconds()
				records, bytes := s.counts()
				fmt.Fprintf(cmd.ErrOrStderr(), "%5.0fs  %10d records  %8.1f MB/s\n", el, records, float64(bytes)/1e6/el)
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// report prints the run's totals; for produce the latencies are per
// record, from Produce to its ack, for consume the gaps between responses.
func report(cmd *cobra.Command, what string, elapsed time.Duration, s *benchStats) {
	sec := elapsed.Seconds()
	out := cmd.OutOrStdout()
	records, bytes, h := s.totals()
	fmt.Fprintf(out, "%s: %d records, %.1f MB in %.2fs: %.0f records/s, %.1f MB/s\n",
		what, records, float64(bytes)/1e6, sec, float64(records)/sec, float64(bytes)/1e6/sec)
	label := "ack latency"
	if what == "consume" {
		label = "gap between batches"
	}
	fmt.Fprintf(out, "%s: p50 %s  p99 %s  p999 %s  max %s  (%d samples)\n", label,
		h.quantile(0.50).Round(time.Microsecond), h.quantile(0.99).Round(time.Microsecond), h.quantile(0.999).Round(time.Microsecond),
		h.quantile(1).Round(time.Microsecond), h.count.Load())
	if what == "produce" {
		s.mu.Lock()
		failed := s.failed
		s.mu.Unlock()
		fmt.Fprintf(out, "longest time without an ack: %s; failed records: %d\n", time.Duration(s.longestGap.Load()).Round(time.Millisecond), failed)
	}
}

// histogram counts durations in buckets of under 1% of their value (128
// per power of two above 256µs; 1µs below), so that a long run's
// quantiles take constant memory. Safe for concurrent use.
type histogram struct {
	buckets [histogramBuckets]atomic.Int64
	count   atomic.Int64
	max     atomic.Int64 // nanoseconds, exact
}

const (
	histogramLinear  = 256 // µs counted one by one
	histogramSub     = 128 // buckets per power of two above
	histogramBuckets = histogramLinear + 56*histogramSub
)

// merge adds o's counts to h's.
func (h *histogram) merge(o *histogram) {
	for i := range o.buckets {
		if n := o.buckets[i].Load(); n > 0 {
			h.buckets[i].Add(n)
		}
	}
	h.count.Add(o.count.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	h.buckets[bucketOf(uint64(d.Microseconds()))].Add(1)
	h.count.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func bucketOf(us uint64) int {
	if us < histogramLinear {
		return int(us)
	}
	shift := bits.Len64(us) - 8 // us>>shift is in [128, 256)
	return histogramLinear + (shift-1)*histogramSub + int(us>>shift) - histogramSub
}

// bucketValue is the middle of bucket i's range.
func bucketValue(i int) time.Duration {
	if i < histogramLinear {
		return time.Duration(i) * time.Microsecond
	}
	i -= histogramLinear
	shift := i/histogramSub + 1
	low := uint64(i%histogramSub+histogramSub) << shift
	return time.Duration(low+(uint64(1)<<shift)/2) * time.Microsecond
}

// quantile is the duration q of the samples are at or under (1: the
// largest), 0 with none.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max.Load())
	}
	rank := min(n-1, int64(q*float64(n)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen > rank {
			return min(bucketValue(i), time.Duration(h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}
