package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
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
	inFlight, streams          int
	duration, progressInterval time.Duration
	rateMBps                   float64
	keepGoing                  bool
}

func newBenchProduceCommand() *cobra.Command {
	b := produceBench{}
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce fixed-size records as fast as acks allow (or at --rate-mbps) and report throughput and ack latency",
		Example: `  runnel bench produce --record-size 1024 --batch-bytes 65536 --in-flight 16 --duration 20s
  runnel bench produce --rate-mbps 100 --duration 20s`,
		Args: cobra.NoArgs,
	}
	dial := brokerFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&b.topic, "topic", "bench", "topic to write (created if missing)")
	f.Int32Var(&b.partitions, "partitions", 1, "partitions when the topic is created")
	f.Int32Var(&b.replication, "replication-factor", 0, "replication factor when the topic is created (0: the broker's default)")
	f.Var(&b.acks, "acks", "when requests are acknowledged: all (a quorum has them on disk) or leader")
	f.IntVar(&b.recordSize, "record-size", 1024, "bytes of each record's value (random, incompressible)")
	f.IntVar(&b.batchBytes, "batch-bytes", 64<<10, "record bytes per produce request")
	f.IntVar(&b.inFlight, "in-flight", 16, "unacknowledged requests per stream")
	f.IntVar(&b.streams, "streams", 1, "concurrent produce streams")
	f.DurationVar(&b.duration, "duration", 20*time.Second, "how long to produce")
	f.DurationVar(&b.progressInterval, "progress", time.Second, "interval of the progress line on stderr")
	f.Float64Var(&b.rateMBps, "rate-mbps", 0, "target MB/s of record values (0: as fast as possible)")
	f.BoolVar(&b.keepGoing, "keep-going", false, "on a failed request, count it and go on (reopening the stream if it broke) instead of stopping: for measuring failovers")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if b.recordSize <= 0 || b.batchBytes < b.recordSize || b.inFlight <= 0 || b.streams <= 0 {
			return errors.New("want --record-size > 0, --batch-bytes >= --record-size, --in-flight > 0 and --streams > 0")
		}
		c, err := dial()
		if err != nil {
			return err
		}
		defer c.Close()
		if err := ensureTopic(cmd.Context(), c, b.topic, b.partitions, b.replication); err != nil {
			return err
		}
		return b.run(cmd, c)
	}
	return cmd
}

func ensureTopic(ctx context.Context, c *client.Client, topic string, partitions, replication int32) error {
	_, err := c.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: topic, Partitions: partitions, ReplicationFactor: replication})
	if status.Code(err) == codes.AlreadyExists {
		return nil
	}
	return err
}

// benchStats is shared by the streams of a run.
type benchStats struct {
	records, bytes atomic.Int64
	failed         atomic.Int64 // requests failed (--keep-going)
	mu             sync.Mutex   // guards latencies, lastAck, longestGap
	latencies      []time.Duration
	lastAck        time.Time
	longestGap     time.Duration // the longest time without an ack
}

func (s *benchStats) add(records, bytes int64, latency time.Duration) {
	s.records.Add(records)
	s.bytes.Add(bytes)
	now := time.Now()
	s.mu.Lock()
	s.latencies = append(s.latencies, latency)
	if !s.lastAck.IsZero() {
		s.longestGap = max(s.longestGap, now.Sub(s.lastAck))
	}
	s.lastAck = now
	s.mu.Unlock()
}

func (b produceBench) run(cmd *cobra.Command, c *client.Client) error {
	value := make([]byte, b.recordSize)
	_, _ = rand.Read(value)
	perRequest := b.batchBytes / b.recordSize
	records := make([]*runnelv1.Record, perRequest)
	for i := range records {
		records[i] = &runnelv1.Record{Value: value}
	}
	requestBytes := int64(perRequest * b.recordSize)
	var interval time.Duration // between requests of one stream, when rate limited
	if b.rateMBps > 0 {
		perStream := b.rateMBps * 1e6 / float64(b.streams)
		interval = time.Duration(float64(requestBytes) / perStream * float64(time.Second))
	}

	ctx, cancel := context.WithTimeout(cmd.Context(), b.duration)
	defer cancel()
	stats := &benchStats{}
	start := time.Now()
	stopProgress := progress(cmd, b.progressInterval, start, stats)
	errs := make(chan error, b.streams)
	for range b.streams {
		go func() { errs <- b.streamUntilDone(ctx, c, records, requestBytes, interval, stats) }()
	}
	var firstErr error
	for range b.streams {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	stopProgress()
	elapsed := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	report(cmd, "produce", elapsed, stats)
	return nil
}

// streamUntilDone runs stream until ctx ends; with --keep-going it
// reopens a broken stream, counting the failure.
func (b produceBench) streamUntilDone(ctx context.Context, c *client.Client, records []*runnelv1.Record, requestBytes int64, interval time.Duration, stats *benchStats) error {
	for {
		err := b.stream(ctx, c, records, requestBytes, interval, stats)
		if err == nil || !b.keepGoing || ctx.Err() != nil {
			return err
		}
		stats.failed.Add(1)
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil
		}
	}
}

// stream produces on one stream until ctx ends, keeping b.inFlight
// requests outstanding. Responses come in request order, so a FIFO of send
// times gives each ack's latency.
func (b produceBench) stream(ctx context.Context, c *client.Client, records []*runnelv1.Record, requestBytes int64, interval time.Duration, stats *benchStats) error {
	stream, err := c.Produce.Produce(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	sent := make(chan time.Time, b.inFlight)
	recvErr := make(chan error, 1)
	go func() {
		for t := range sent {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			if resp.Error != nil {
				if b.keepGoing {
					stats.failed.Add(1)
					continue
				}
				recvErr <- status.ErrorProto(resp.Error)
				return
			}
			stats.add(int64(len(records)), requestBytes, time.Since(t))
		}
		recvErr <- nil
	}()
	next := time.Now()
	var id uint64
	for ctx.Err() == nil {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					continue
				}
			}
			next = next.Add(interval)
		}
		select {
		case sent <- time.Now():
		case <-ctx.Done():
			continue
		}
		id++
		if err := stream.Send(&runnelv1.ProduceRequest{Topic: b.topic, Records: records, CorrelationId: id, Acks: runnelv1.Acks(b.acks)}); err != nil {
			break
		}
	}
	close(sent)
	err = <-recvErr
	_ = stream.CloseSend()
	return err
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
		c, err := dial()
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
// request ack, for consume the gaps between responses.
func report(cmd *cobra.Command, what string, elapsed time.Duration, s *benchStats) {
	s.mu.Lock()
	lat := slices.Clone(s.latencies)
	s.mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	sec := elapsed.Seconds()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s: %d records, %.1f MB in %.2fs: %.0f records/s, %.1f MB/s\n",
		what, s.records.Load(), float64(s.bytes.Load())/1e6, sec, float64(s.records.Load())/sec, float64(s.bytes.Load())/1e6/sec)
	label := "ack latency"
	if what == "consume" {
		label = "gap between batches"
	}
	fmt.Fprintf(out, "%s: p50 %s  p99 %s  p999 %s  max %s  (%d samples)\n", label,
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(0.999).Round(time.Microsecond),
		pct(1).Round(time.Microsecond), len(lat))
	if what == "produce" {
		s.mu.Lock()
		gap := s.longestGap
		s.mu.Unlock()
		fmt.Fprintf(out, "longest time without an ack: %s; failed requests: %d\n", gap.Round(time.Millisecond), s.failed.Load())
	}
}
