package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
)

func newPartitionCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "partition", Short: "Manage partitions"}
	cmd.AddCommand(newPartitionReassignCommand())
	return cmd
}

func newPartitionReassignCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reassign TOPIC PARTITION",
		Short: "Move a partition's replicas to other brokers while it keeps serving",
		Long: `Move a partition's replicas to the brokers named by --replicas (the first is
the preferred leader). The new replicas copy the log as raft learners, then
raft configuration changes swap them in (the leader hands its leadership to
a new replica first if it is leaving); producers and consumers go on.`,
		Example: "  runnel partition reassign orders 0 --replicas 2,3 --wait",
		Args:    cobra.ExactArgs(2),
	}
	dial := adminFlag(cmd)
	replicas := cmd.Flags().Int32Slice("replicas", nil, "the brokers to hold the partition, by node id, the preferred leader first")
	wait := cmd.Flags().Bool("wait", false, "wait until the move is done, showing its progress")
	_ = cmd.MarkFlagRequired("replicas")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var partition int32
		if _, err := fmt.Sscan(args[1], &partition); err != nil {
			return fmt.Errorf("partition %q: want a number", args[1])
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		topic := args[0]
		if err := adm.ReassignPartition(cmd.Context(), topic, partition, *replicas...); err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "Moving %s partition %d to brokers %v\n", topic, partition, *replicas)
		if !*wait {
			return nil
		}
		last := ""
		for {
			resp, err := adm.DescribeTopic(cmd.Context(), topic)
			if err != nil {
				return err
			}
			p := resp.Partitions[partition]
			if slices.Equal(p.Replicas, *replicas) && moving(p) == "-" && p.Leader != 0 {
				fmt.Fprintf(out, "Done: replicas %v, leader %d, in sync %v\n", p.Replicas, p.Leader, p.InSyncReplicas)
				return nil
			}
			if now := fmt.Sprintf("replicas %v, moving %s, leader %d, in sync %v", p.Replicas, moving(p), p.Leader, p.InSyncReplicas); now != last {
				fmt.Fprintln(out, now)
				last = now
			}
			select {
			case <-cmd.Context().Done():
				return cmd.Context().Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return cmd
}
