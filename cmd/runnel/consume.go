package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func newConsumeCommand() *cobra.Command {
	var (
		from, group, format, instance string
		partitions                    []int32
		limit                         int64
		follow, printAssignments      bool
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC [TOPIC...]",
		Short: "Print a topic's records",
		Long: `Print a topic's records, one per line: the value (--format text) or a JSON
object with topic, partition, offset, timestamp, key, value and headers
(--format json). Without --follow it stops at the end of the topic as it was
when it started.

With --group it is a member of the consumer group: the group's brokers share
the topics' partitions among its members, each partition to one, and it
starts each partition at the group's committed offset (--from earliest or
latest says where to start in a partition without one) and commits what it
printed. Every group reads every record. With --partition it reads those
partitions itself, from the group's committed offsets (or --from), and
commits there, as a group of its own making.

A read whose broker fails goes on through the others (those --broker names,
and the rest of the cluster), printing no record twice and skipping none; a
member re-attaches to its group. An interrupt stops cleanly: consume commits
what it printed and leaves the group.`,
		Example: `  runnel consume orders --from earliest
  runnel consume orders --group billing --follow
  runnel consume orders payments --group audit --follow --print-assignments
  runnel consume orders --from 42 -n 10 --format json`,
		Args: cobra.MinimumNArgs(1),
	}
	dial := brokerFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "earliest, latest or an offset (default: committed with --group, else earliest)")
	f.StringVar(&group, "group", "", "consumer group: start at its committed offsets and commit")
	f.Int32SliceVar(&partitions, "partition", nil, "partitions to read (default all)")
	f.Int64VarP(&limit, "max-records", "n", 0, "stop after this many records (0: no limit)")
	f.BoolVar(&follow, "follow", false, "keep waiting for new records")
	f.StringVar(&format, "format", "text", "text or json")
	f.StringVar(&instance, "instance-id", "", "with --group: a static member's id, which keeps its partitions across a restart within the group session timeout")
	f.BoolVar(&printAssignments, "print-assignments", false, "with --group: print each change of the partitions this member reads to stderr")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		member := group != "" && len(partitions) == 0
		switch {
		case member:
		case len(args) > 1:
			return fmt.Errorf("several topics are read by a group member: add --group (and no --partition)")
		case instance != "" || printAssignments:
			return fmt.Errorf("--instance-id and --print-assignments are for a group member: add --group (and no --partition)")
		}
		// NB: a member starts at the group's committed offsets, --from
		// earliest or latest where there is none; the partitions named
		// with --partition start at --from if given (over the group's
		// offsets), else at the group's, else at the earliest.
		reset := client.ResetEarliest
		var seek func(*client.Consumer) error
		switch from {
		case "":
		case "earliest":
			if group != "" {
				seek = func(k *client.Consumer) error { return k.SeekToEarliest(args[0]) }
			}
		case "latest":
			reset = client.ResetLatest
			if group != "" {
				seek = func(k *client.Consumer) error { return k.SeekToLatest(args[0]) }
			}
		default:
			o, err := strconv.ParseInt(from, 10, 64)
			if err != nil {
				return fmt.Errorf("--from %q: want earliest, latest or an offset", from)
			}
			if member {
				return fmt.Errorf("--from %s: a group member starts at the group's committed offsets, and --from earliest or latest says where to start without one; to read from an offset, name the partitions with --partition", from)
			}
			if o < 0 {
				return fmt.Errorf("--from %d: offsets start at 0", o)
			}
			seek = func(k *client.Consumer) error {
				for _, p := range k.Assigned()[args[0]] {
					if err := k.Seek(args[0], p, o); err != nil {
						return err
					}
				}
				return nil
			}
		}
		var print func(*client.Record) error
		out := cmd.OutOrStdout()
		switch format {
		case "text":
			print = func(r *client.Record) error {
				_, err := fmt.Fprintf(out, "%s\n", r.Value)
				return err
			}
		case "json":
			enc := json.NewEncoder(out)
			print = func(r *client.Record) error { return enc.Encode(jsonRecord(r)) }
		default:
			return fmt.Errorf("--format %q: want text or json", format)
		}
		// NB: a member commits with the SDK's auto-commit (what the loop
		// printed, a partition taken away at once, and all at Close);
		// a reader of chosen partitions commits what it printed itself,
		// as auto-commit would commit where --from put them too.
		autoCommit := time.Duration(0)
		if member {
			autoCommit = consumeCommitInterval
		}
		opts := []client.ConsumerOption{client.WithResetOffset(reset), client.WithAutoCommit(autoCommit)}
		if !follow {
			opts = append(opts, client.WithStopAtEnd())
		}
		if group != "" {
			opts = append(opts, client.WithGroup(group))
		}
		if member {
			opts = append(opts, client.WithTopics(args...))
			if instance != "" {
				opts = append(opts, client.WithInstanceID(instance))
			}
			if printAssignments {
				opts = append(opts, client.OnAssignment(func(_ context.Context, a *runnelv1.GroupAssignment) {
					printAssignment(cmd.ErrOrStderr(), format, a)
				}))
			}
		} else {
			opts = append(opts, client.WithAssignment(map[string][]int32{args[0]: partitions}))
		}
		c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		k, err := c.Consumer(cmd.Context(), opts...)
		if err != nil {
			return brokerError(err)
		}
		if seek != nil && !member {
			if err := seek(k); err != nil {
				k.Close()
				return err
			}
		}
		var pc *printedCommitter
		if group != "" && !member {
			pc = startPrintedCommitter(k)
			printRecord := print
			print = func(r *client.Record) error {
				if err := printRecord(r); err != nil {
					return err
				}
				pc.printed(r)
				return nil
			}
		}
		err = consume(cmd.Context(), k, print, limit)
		// NB: an interrupt (the context done) ends the loop cleanly, and
		// what was printed is committed then, on a context of its own;
		// Close leaves the group (a member commits there).
		var cerr error
		if pc != nil {
			cerr = pc.close(context.WithoutCancel(cmd.Context()))
		}
		cerr = errors.Join(cerr, k.Close())
		if err == nil && cerr != nil {
			err = fmt.Errorf("commit at exit: %w", cerr)
		}
		return err
	}
	return cmd
}

// consumeCommitInterval is how often consume commits what it printed, as
// the SDK consumer's auto-commit: the records whose print returned. A
// partition the group takes away is committed at once, and everything
// at exit. Nothing is sent when nothing was printed since.
const consumeCommitInterval = 100 * time.Millisecond

// printedCommitter commits, for a reader of chosen partitions with
// --group, the offset after the last record printed of each partition,
// every consumeCommitInterval and at the end: what it printed, never
// where --from put a partition that printed nothing.
type printedCommitter struct {
	k    *client.Consumer
	mu   sync.Mutex
	last map[partitionKey]*client.Record // printed, not committed yet
	stop chan struct{}
	done chan struct{}
}

type partitionKey struct {
	topic     string
	partition int32
}

func startPrintedCommitter(k *client.Consumer) *printedCommitter {
	pc := &printedCommitter{k: k, last: map[partitionKey]*client.Record{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(pc.done)
		t := time.NewTicker(consumeCommitInterval)
		defer t.Stop()
		for {
			select {
			case <-pc.stop:
				return
			case <-t.C:
				// NB: a failed commit is tried again at the next tick,
				// and at the end, which reports it.
				_ = pc.commit(context.Background())
			}
		}
	}()
	return pc
}

func (pc *printedCommitter) printed(r *client.Record) {
	pc.mu.Lock()
	pc.last[partitionKey{r.Topic, *r.Partition}] = r
	pc.mu.Unlock()
}

// commit commits what was printed since the last commit; what fails is
// kept for the next, unless more was printed meanwhile.
func (pc *printedCommitter) commit(ctx context.Context) error {
	pc.mu.Lock()
	recs := slices.Collect(maps.Values(pc.last))
	clear(pc.last)
	pc.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	err := pc.k.CommitRecords(ctx, recs...)
	if err != nil {
		pc.mu.Lock()
		for _, r := range recs {
			if key := (partitionKey{r.Topic, *r.Partition}); pc.last[key] == nil {
				pc.last[key] = r
			}
		}
		pc.mu.Unlock()
	}
	return err
}

// close stops the ticks and commits the rest.
func (pc *printedCommitter) close(ctx context.Context) error {
	close(pc.stop)
	<-pc.done
	return pc.commit(ctx)
}

// consume prints k's records until the end (without --follow), the
// limit, an error or ctx's end (an interrupt: a clean stop).
func consume(ctx context.Context, k *client.Consumer, print func(*client.Record) error, limit int64) error {
	var printed int64
	for rec, err := range k.Records(ctx) {
		if err != nil {
			return brokerError(err)
		}
		if err := print(rec); err != nil {
			return err
		}
		if printed++; limit > 0 && printed == limit {
			break
		}
	}
	return nil
}

// brokerError is the broker's answer an SDK error carries, as the stubs
// returned it (describeError shows "NOT_FOUND: topic ..."): a partition's
// read's error, or the one answer a request had everywhere. An error
// naming several brokers' failures (UNAVAILABLE, no answer in time) is
// kept whole.
func brokerError(err error) error {
	if pe, ok := errors.AsType[*client.PartitionError](err); ok {
		return pe.Err
	}
	if se, ok := errors.AsType[interface {
		error
		GRPCStatus() *status.Status
	}](err); ok {
		switch se.GRPCStatus().Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
		default:
			return se
		}
	}
	return err
}

// printAssignment shows a change of a group member's partitions.
func printAssignment(w io.Writer, format string, a *runnelv1.GroupAssignment) {
	if format == "json" {
		_ = json.NewEncoder(w).Encode(map[string]any{"assignment": map[string]any{
			"group": a.Group, "member_id": a.MemberId, "group_epoch": a.GroupEpoch, "member_epoch": a.MemberEpoch,
			"partitions": partitionsByTopic(a.Partitions), "revoked": partitionsByTopic(a.Revoked),
		}})
		return
	}
	fmt.Fprintf(w, "group %s member %s (epoch %d): reading %s", a.Group, a.MemberId, a.MemberEpoch, topicPartitions(a.Partitions))
	if len(a.Revoked) > 0 {
		fmt.Fprintf(w, ", gave up %s", topicPartitions(a.Revoked))
	}
	fmt.Fprintln(w)
}

// partitionsByTopic is a JSON-friendly map of TopicPartitions.
func partitionsByTopic(tps []*runnelv1.TopicPartitions) map[string][]int32 {
	out := map[string][]int32{}
	for _, tp := range tps {
		out[tp.Topic] = append(out[tp.Topic], tp.Partitions...)
	}
	return out
}

// topicPartitions prints TopicPartitions as orders[0 1] payments[2].
func topicPartitions(tps []*runnelv1.TopicPartitions) string {
	if len(tps) == 0 {
		return "nothing"
	}
	var parts []string
	for _, tp := range tps {
		parts = append(parts, fmt.Sprintf("%s%v", tp.Topic, tp.Partitions))
	}
	return strings.Join(parts, " ")
}

type jsonOutput struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Key       *string           `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
}

func jsonRecord(r *client.Record) jsonOutput {
	ts := r.Timestamp
	if ts.IsZero() {
		ts = time.Unix(0, 0).UTC() // NB: a record without one, as timestamppb's AsTime shows it
	}
	o := jsonOutput{Topic: r.Topic, Partition: *r.Partition, Offset: r.Offset, Timestamp: ts, Value: string(r.Value)}
	if len(r.Key) > 0 {
		k := string(r.Key)
		o.Key = &k
	}
	for _, h := range r.Headers {
		if o.Headers == nil {
			o.Headers = map[string]string{}
		}
		o.Headers[h.Key] = string(h.Value)
	}
	return o
}
