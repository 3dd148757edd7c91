package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func newTopicCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "Create, list, describe and delete topics"}
	cmd.AddCommand(newTopicCreateCommand(), newTopicListCommand(), newTopicDescribeCommand(), newTopicDeleteCommand())
	return cmd
}

func newTopicCreateCommand() *cobra.Command {
	var (
		partitions, rf int32
		configs        []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Example: `  runnel topic create orders --partitions 3
  runnel topic create logs --partitions 1 --config retention.ms=3600000 --config segment.bytes=1048576`,
		Args: cobra.ExactArgs(1),
	}
	dial := adminFlag(cmd)
	cmd.Flags().Int32Var(&partitions, "partitions", 1, "number of partitions")
	cmd.Flags().Int32Var(&rf, "replication-factor", 0, "copies of each partition (0: the broker's default)")
	cmd.Flags().StringArrayVar(&configs, "config", nil, "topic config as key=value (repeatable): retention.ms, retention.bytes, segment.bytes, segment.ms, max.message.bytes, message.timestamp.type, message.timestamp.before.max.ms, message.timestamp.after.max.ms")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		config := map[string]string{}
		for _, kv := range configs {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--config %q: want key=value", kv)
			}
			config[k] = v
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		t, err := adm.CreateTopic(cmd.Context(), args[0], partitions, rf, config)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created topic %s with %d partition(s)\n", t.Name, t.Partitions)
		return nil
	}
	return cmd
}

func newTopicListCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List topics", Args: cobra.NoArgs}
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		topics, err := adm.ListTopics(cmd.Context())
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TOPIC\tPARTITIONS\tREPLICATION")
		for _, t := range topics {
			fmt.Fprintf(w, "%s\t%d\t%d\n", t.Name, t.Partitions, t.ReplicationFactor)
		}
		return w.Flush()
	}
	return cmd
}

func newTopicDescribeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "describe NAME", Short: "Describe a topic and its partitions", Args: cobra.ExactArgs(1)}
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		resp, err := adm.DescribeTopic(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		t := resp.Topic
		fmt.Fprintf(out, "Topic: %s  ID: %s  Partitions: %d  Replication: %d\n", t.Name, t.TopicId, t.Partitions, t.ReplicationFactor)
		for _, k := range slices.Sorted(maps.Keys(t.Config)) {
			fmt.Fprintf(out, "  %s=%s\n", k, t.Config[k])
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tIN SYNC\tMOVING\tLOG START\tHIGH WATERMARK")
		for _, p := range resp.Partitions {
			fmt.Fprintf(w, "%d\t%d\t%d\t%v\t%v\t%s\t%d\t%d\n", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.InSyncReplicas,
				moving(p), p.LogStartOffset, p.HighWatermark)
		}
		return w.Flush()
	}
	return cmd
}

func newTopicDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "delete NAME", Short: "Delete a topic and its records", Args: cobra.ExactArgs(1)}
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		if err := adm.DeleteTopic(cmd.Context(), args[0]); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted topic %s\n", args[0])
		return nil
	}
	return cmd
}

// moving shows a reassignment going: the replicas added and removed.
func moving(p *runnelv1.PartitionInfo) string {
	if len(p.AddingReplicas)+len(p.RemovingReplicas) == 0 {
		return "-"
	}
	return fmt.Sprintf("+%v -%v", p.AddingReplicas, p.RemovingReplicas)
}
