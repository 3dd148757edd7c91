package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func newGroupCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "List, describe, delete and reset consumer groups"}
	cmd.AddCommand(newGroupListCommand(), newGroupDescribeCommand(), newGroupDeleteCommand(), newGroupResetCommand())
	return cmd
}

// formatFlag adds --format text|json; the returned func says whether the
// output is JSON, or why the flag is wrong.
func formatFlag(cmd *cobra.Command) func() (bool, error) {
	format := cmd.Flags().String("format", "text", "text (a table) or json")
	return func() (bool, error) {
		switch *format {
		case "text":
			return false, nil
		case "json":
			return true, nil
		}
		return false, fmt.Errorf("--format %q: want text or json", *format)
	}
}

// printJSON writes a response as protobuf's JSON, one object per line.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func newGroupListCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List consumer groups", Args: cobra.NoArgs}
	dial := adminFlag(cmd)
	asJSON := formatFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		isJSON, err := asJSON()
		if err != nil {
			return err
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		groups, err := adm.ListGroups(cmd.Context())
		if err != nil {
			return err
		}
		if isJSON {
			return printJSON(cmd.OutOrStdout(), &runnelv1.ListGroupsResponse{Groups: groups})
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "GROUP\tCOORDINATOR")
		for _, g := range groups {
			fmt.Fprintf(w, "%s\t%d\n", g.Name, g.CoordinatorId)
		}
		return w.Flush()
	}
	return cmd
}

func newGroupDescribeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe GROUP",
		Short: "Describe a consumer group: its members, offsets and lag",
		Long: `Describe a consumer group as its coordinator sees it: its state, the members
with the partitions each reads, and for each partition of the topics it reads
the committed offset, the high watermark and the lag, as
kafka-consumer-groups.sh --describe does.`,
		Args: cobra.ExactArgs(1),
	}
	dial := adminFlag(cmd)
	asJSON := formatFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		isJSON, err := asJSON()
		if err != nil {
			return err
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		g, err := adm.DescribeGroup(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if isJSON {
			return printJSON(out, &runnelv1.DescribeGroupResponse{Group: g})
		}
		fmt.Fprintf(out, "Group: %s  State: %s  Coordinator: %d (%s)  Epoch: %d  Members: %d\n", g.Name,
			strings.TrimPrefix(g.State.String(), "GROUP_STATE_"), g.CoordinatorId, g.CoordinatorAddress, g.GroupEpoch, len(g.Members))
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID")
		for _, p := range g.Partitions {
			current := "-"
			if p.CommittedOffset >= 0 {
				current = fmt.Sprint(p.CommittedOffset)
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%d\t%s\n", p.Topic, p.Partition, current, p.HighWatermark, p.Lag, orDash(p.MemberId))
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if len(g.Members) == 0 {
			return nil
		}
		fmt.Fprintln(out)
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "MEMBER-ID\tINSTANCE-ID\tCLIENT\tEPOCH\tCONNECTED\tASSIGNED\tREVOKING")
		for _, m := range g.Members {
			revoking := "-"
			if len(m.Revoking) > 0 {
				revoking = topicPartitions(m.Revoking)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%t\t%s\t%s\n", m.MemberId, orDash(m.InstanceId), orDash(m.ClientAddress), m.MemberEpoch,
				m.Connected, topicPartitions(m.Assigned), revoking)
		}
		return w.Flush()
	}
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "delete GROUP", Short: "Delete a consumer group without members, and its offsets", Args: cobra.ExactArgs(1)}
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		if err := adm.DeleteGroup(cmd.Context(), args[0]); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted group %s\n", args[0])
		return nil
	}
	return cmd
}

func newGroupResetCommand() *cobra.Command {
	var (
		topic, toDatetime         string
		toOffset, shiftBy         int64
		partitions                []int32
		toEarliest, toLatest, dry bool
	)
	cmd := &cobra.Command{
		Use:   "reset GROUP --topic TOPIC (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME | --shift-by N)",
		Short: "Move a consumer group's committed offsets",
		Long: `Move the committed offsets of a group without members in one topic, as
kafka-consumer-groups.sh --reset-offsets does: to the log start, the high
watermark, an offset, the first record at or after a time (RFC 3339), or the
committed offset shifted by N (negative: back), each clamped to the log.
--dry-run shows the new offsets and commits nothing.`,
		Example: `  runnel group reset billing --topic orders --to-earliest --dry-run
  runnel group reset billing --topic orders --partition 0 --shift-by -10
  runnel group reset billing --topic orders --to-datetime 2026-12-01T09:00:00Z`,
		Args: cobra.ExactArgs(1),
	}
	dial := adminFlag(cmd)
	asJSON := formatFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "the topic whose offsets move (required)")
	f.Int32SliceVar(&partitions, "partition", nil, "partitions to reset (default all)")
	f.BoolVar(&toEarliest, "to-earliest", false, "to the log start")
	f.BoolVar(&toLatest, "to-latest", false, "to the high watermark")
	f.Int64Var(&toOffset, "to-offset", 0, "to this offset")
	f.StringVar(&toDatetime, "to-datetime", "", "to the first record at or after this time (RFC 3339)")
	f.Int64Var(&shiftBy, "shift-by", 0, "by this many from the committed offset (negative: back)")
	f.BoolVar(&dry, "dry-run", false, "show the new offsets, commit nothing")
	cmd.MarkFlagsOneRequired("to-earliest", "to-latest", "to-offset", "to-datetime", "shift-by")
	cmd.MarkFlagsMutuallyExclusive("to-earliest", "to-latest", "to-offset", "to-datetime", "shift-by")
	_ = cmd.MarkFlagRequired("topic")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		isJSON, err := asJSON()
		if err != nil {
			return err
		}
		var to client.OffsetReset
		switch {
		case toEarliest:
			to = client.ResetToEarliest()
		case toLatest:
			to = client.ResetToLatest()
		case cmd.Flags().Changed("to-offset"):
			to = client.ResetToOffset(toOffset)
		case toDatetime != "":
			at, err := time.Parse(time.RFC3339, toDatetime)
			if err != nil {
				return fmt.Errorf("--to-datetime %q: want RFC 3339, as 2026-12-01T09:00:00Z", toDatetime)
			}
			to = client.ResetToTime(at)
		default:
			to = client.ResetShiftBy(shiftBy)
		}
		if len(partitions) > 0 {
			to = to.Partitions(partitions...)
		}
		if dry {
			to = to.DryRun()
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		parts, err := adm.ResetOffsets(cmd.Context(), args[0], topic, to)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if isJSON {
			return printJSON(out, &runnelv1.ResetOffsetsResponse{Partitions: parts})
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TOPIC\tPARTITION\tNEW-OFFSET\tLOG-END-OFFSET\tLAG")
		for _, p := range parts {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\n", p.Topic, p.Partition, p.CommittedOffset, p.HighWatermark, p.Lag)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if dry {
			fmt.Fprintln(out, "(dry run: nothing committed)")
		}
		return nil
	}
	return cmd
}
