package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func newConsumeCommand() *cobra.Command {
	var (
		from, group, format string
		partitions          []int32
		limit               int64
		follow              bool
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print a topic's records",
		Long: `Print a topic's records, one per line: the value (--format text) or a JSON
object with partition, offset, timestamp, key, value and headers (--format json).
Without --follow it stops at the end of the topic as it was when it started.
With --group it starts at the group's committed offsets (unless --from says
otherwise) and commits what it printed.`,
		Example: `  runnel consume orders --from earliest
  runnel consume orders --group billing --follow
  runnel consume orders --from 42 -n 10 --format json`,
		Args: cobra.ExactArgs(1),
	}
	dial := brokerFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "earliest, latest or an offset (default: committed with --group, else earliest)")
	f.StringVar(&group, "group", "", "consumer group: start at its committed offsets and commit")
	f.Int32SliceVar(&partitions, "partition", nil, "partitions to read (default all)")
	f.Int64VarP(&limit, "max-records", "n", 0, "stop after this many records (0: no limit)")
	f.BoolVar(&follow, "follow", false, "keep waiting for new records")
	f.StringVar(&format, "format", "text", "text or json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req := &runnelv1.SubscribeRequest{Topic: args[0], Partitions: partitions, Group: group, Follow: follow}
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
		c, err := dial()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx := cmd.Context()
		stream, err := c.Subscribe.Subscribe(ctx, req)
		if err != nil {
			return err
		}
		var printed int64
		for limit == 0 || printed < limit {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
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
				if err := commit(cmd, c, group, b, last.Offset+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return cmd
}

func commit(cmd *cobra.Command, c *client.Client, group string, b *runnelv1.RecordBatch, next int64) error {
	_, err := c.Commit.Commit(cmd.Context(), &runnelv1.CommitRequest{
		Group:   group,
		Topic:   b.Topic,
		Offsets: []*runnelv1.PartitionOffset{{Partition: b.Partition, Offset: next}},
	})
	return err
}

type jsonOutput struct {
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Key       *string           `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
}

func jsonRecord(b *runnelv1.RecordBatch, r *runnelv1.Record) jsonOutput {
	o := jsonOutput{Partition: b.Partition, Offset: r.Offset, Timestamp: r.Timestamp.AsTime(), Value: string(r.Value)}
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
