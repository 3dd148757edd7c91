package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
commits there, as a group of its own making.`,
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
		req := &runnelv1.SubscribeRequest{Topic: args[0], Partitions: partitions, Group: group, Follow: follow}
		switch {
		case member:
			req.Topics, req.InstanceId = args[1:], instance
		case len(args) > 1:
			return fmt.Errorf("several topics are read by a group member: add --group (and no --partition)")
		case instance != "" || printAssignments:
			return fmt.Errorf("--instance-id and --print-assignments are for a group member: add --group (and no --partition)")
		}
		switch from {
		case "":
		case "earliest":
			req.StartPosition = runnelv1.StartPosition_START_POSITION_EARLIEST
		case "latest":
			req.StartPosition = runnelv1.StartPosition_START_POSITION_LATEST
		default:
			o, err := strconv.ParseInt(from, 10, 64)
			if err != nil {
				return fmt.Errorf("--from %q: want earliest, latest or an offset", from)
			}
			if member {
				return fmt.Errorf("--from %s: a group member starts at the group's committed offsets, and --from earliest or latest says where to start without one; to read from an offset, name the partitions with --partition", from)
			}
			req.StartPosition, req.StartOffset = runnelv1.StartPosition_START_POSITION_OFFSET, o
		}
		var print func(*runnelv1.RecordBatch, *runnelv1.Record) error
		out := cmd.OutOrStdout()
		switch format {
		case "text":
			print = func(_ *runnelv1.RecordBatch, r *runnelv1.Record) error {
				_, err := fmt.Fprintf(out, "%s\n", r.Value)
				return err
			}
		case "json":
			enc := json.NewEncoder(out)
			print = func(b *runnelv1.RecordBatch, r *runnelv1.Record) error { return enc.Encode(jsonRecord(b, r)) }
		default:
			return fmt.Errorf("--format %q: want text or json", format)
		}
		c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		// NB: cancelled before the connection closes (defers run last
		// first): a group member's broker tells a stream its client closed
		// (the member leaves at once) from a connection lost (it keeps its
		// partitions for the session timeout).
		ctx, cancel := context.WithCancel(cmd.Context())
		defer cancel()
		stream, err := c.Subscribe.Subscribe(ctx, req)
		if err != nil {
			return err
		}
		var (
			printed    int64
			assignment *runnelv1.GroupAssignment
		)
		for limit == 0 || printed < limit {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) || cmd.Context().Err() != nil { // NB: interrupted is a clean stop
				return nil
			}
			if err != nil {
				return err
			}
			if a := resp.Assignment; a != nil {
				assignment = a
				if printAssignments {
					printAssignment(cmd.ErrOrStderr(), format, a)
				}
				continue
			}
			b := resp.Batch
			var last *runnelv1.Record
			for _, r := range b.Records {
				if limit > 0 && printed == limit {
					break
				}
				if err := print(b, r); err != nil {
					return err
				}
				printed++
				last = r
			}
			if group != "" && last != nil {
				if err := commit(cmd, c, group, assignment, b, last.Offset+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return cmd
}

// commit stores the offset after what was printed of a batch's
// partition; a group member commits as the member its latest assignment
// names, so that the group refuses the commit once the partition is
// another member's.
func commit(cmd *cobra.Command, c *client.Client, group string, a *runnelv1.GroupAssignment, b *runnelv1.RecordBatch, next int64) error {
	req := &runnelv1.CommitRequest{
		Group:   group,
		Topic:   b.Topic,
		Offsets: []*runnelv1.PartitionOffset{{Partition: b.Partition, Offset: next}},
	}
	if a != nil {
		req.MemberId, req.MemberEpoch = a.MemberId, a.MemberEpoch
	}
	_, err := c.Commit.Commit(cmd.Context(), req)
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

func jsonRecord(b *runnelv1.RecordBatch, r *runnelv1.Record) jsonOutput {
	o := jsonOutput{Topic: b.Topic, Partition: b.Partition, Offset: r.Offset, Timestamp: r.Timestamp.AsTime(), Value: string(r.Value)}
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
