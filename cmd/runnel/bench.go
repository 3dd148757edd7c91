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
	bufferBytes                int64
	inFlight, streams          int
	linger, deliveryTimeout    time.Duration
	duration, progressInterval time.Duration
	rateMBps                   float64
	keepGoing                  bool
}

func newBenchProduceCommand() *cobra.Command {
	b := produceBench{}
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce fixed-size records with the Go SDK's producer as fast as acks allow (or at --rate-mbps) and report throughput and ack latency",
		Long: `Produce fixed-size records with the Go SDK's producer (client.Producer) for
--duration, as fast as acks allow or at --rate-mbps, and report throughput and
each record's ack latency (from Produce to its ack, the wait for buffer room
included). Each of --streams producers batches per partition (--batch-bytes,
--linger; one batch in flight per partition) and sends each batch to the
partition's leader, retrying UNAVAILABLE (a leader moved, a broker died) until
--delivery-timeout.

A record that fails stops the run, unless --keep-going. When the run ends
(its duration, a failure, or an interrupt: a second one stops at once), the
bench waits for the records in flight and prints its summary: what was
acknowledged, the latencies, the batches retried, and the failed records
counted by error.`,
		Example: `  runnel bench produce --record-size 1024 --duration 20s
  runnel bench produce --partitions 3 --streams 3 --duration 20s
  runnel bench produce --rate-mbps 100 --duration 20s`,
		Args: cobra.NoArgs,
	}
	dial := adminFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&b.topic, "topic", "bench", "topic to write (created if missing)")
	f.Int32Var(&b.partitions, "partitions", 1, "partitions when the topic is created")
	f.Int32Var(&b.replication, "replication-factor", 0, "replication factor when the topic is created (0: the broker's default)")
	f.Var(&b.acks, "acks", "when records are acknowledged: all (a quorum has them on disk) or leader")
	f.IntVar(&b.recordSize, "record-size", 1024, "bytes of each record's value (random, incompressible)")
	f.IntVar(&b.batchBytes, "batch-bytes", 1<<20, "most bytes of a partition's batch, one produce request")
	f.DurationVar(&b.linger, "linger", 5*time.Millisecond, "how long a partition's batch waits to fill before it is sent")
	f.Int64Var(&b.bufferBytes, "buffer-bytes", 64<<20, "most bytes of records produced and not yet acknowledged, per producer")
	f.DurationVar(&b.deliveryTimeout, "delivery-timeout", 30*time.Second, "how long a record may take, retries included, before it fails")
	f.IntVar(&b.streams, "streams", 1, "concurrent producers, each with its own stream to each broker")
	f.IntVar(&b.inFlight, "in-flight", 16, "ignored: the producer has one batch in flight per partition")
	_ = f.MarkDeprecated("in-flight", "the producer has one batch in flight per partition: use --batch-bytes, or --streams for more producers")
	f.DurationVar(&b.duration, "duration", 20*time.Second, "how long to produce")
	f.DurationVar(&b.progressInterval, "progress", time.Second, "interval of the progress line on stderr")
	f.Float64Var(&b.rateMBps, "rate-mbps", 0, "target MB/s of record values (0: as fast as possible)")
	f.BoolVar(&b.keepGoing, "keep-going", false, "on a failed record, count it and go on instead of stopping: for measuring failovers")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case b.recordSize <= 0 || b.batchBytes < b.recordSize:
			return errors.New("want --record-size > 0 and --batch-bytes >= --record-size")
		case b.streams <= 0 || b.bufferBytes <= 0 || b.linger < 0 || b.deliveryTimeout <= 0 || b.duration <= 0 || b.progressInterval <= 0:
			return errors.New("want --streams, --buffer-bytes, --delivery-timeout, --duration and --progress > 0, and --linger >= 0")
		case b.rateMBps < 0:
			return errors.New("want --rate-mbps >= 0")
		}
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

// benchStats is shared by the producers (or the reader) of a run.
type benchStats struct {
	records, bytes atomic.Int64
	latency        histogram
	lastAck        atomic.Int64 // unix nanoseconds
	longestGap     atomic.Int64 // the longest time without an ack, in nanoseconds

	mu       sync.Mutex // guards failures and firstErr
	failures map[string]int64
	failed   int64
	firstErr error
}

func (s *benchStats) add(records, bytes int64, latency time.Duration) {
	s.records.Add(records)
	s.bytes.Add(bytes)
	s.latency.record(latency)
	now := time.Now().UnixNano()
	if last := s.lastAck.Swap(now); last != 0 {
		for gap := now - last; ; {
			g := s.longestGap.Load()
			if gap <= g || s.longestGap.CompareAndSwap(g, gap) {
				break
			}
		}
	}
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
	var interval time.Duration // between chunks of one producer
	if b.rateMBps > 0 {
		perStream := b.rateMBps * 1e6 / float64(b.streams)
		interval = time.Duration(float64(chunk*b.recordSize) / perStream * float64(time.Second))
	}

	opts := []client.ProducerOption{client.WithAcks(runnelv1.Acks(b.acks)), client.WithLinger(b.linger),
		client.WithMaxBatchBytes(b.batchBytes), client.WithMaxBufferedBytes(b.bufferBytes), client.WithDeliveryTimeout(b.deliveryTimeout)}

	ctx, cancel := context.WithTimeout(cmd.Context(), b.duration)
	defer cancel()
	stopped := make(chan struct{}) // closed on the first failure, unless --keep-going
	var stopOnce sync.Once
	stats := &benchStats{}
	start := time.Now()
	stopProgress := progress(cmd, b.progressInterval, start, stats)
	var wg sync.WaitGroup
	producers := make([]*client.Producer, b.streams)
	for i := range producers {
		p := c.Producer(opts...)
		producers[i] = p
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
						stats.add(1, int64(len(value)), time.Since(sent))
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
			stats.add(int64(len(resp.Batch.Records)), n, now.Sub(last))
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
				fmt.Fprintf(cmd.ErrOrStderr(), "%5.0fs  %10d records  %8.1f MB/s\n",
					el, s.records.Load(), float64(s.bytes.Load())/1e6/el)
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
	fmt.Fprintf(out, "%s: %d records, %.1f MB in %.2fs: %.0f records/s, %.1f MB/s\n",
		what, s.records.Load(), float64(s.bytes.Load())/1e6, sec, float64(s.records.Load())/sec, float64(s.bytes.Load())/1e6/sec)
	label := "ack latency"
	if what == "consume" {
		label = "gap between batches"
	}
	h := &s.latency
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
