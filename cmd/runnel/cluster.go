package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func newClusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Look at the cluster, remove a broker"}
	cmd.AddCommand(newClusterDescribeCommand(), newClusterRemoveBrokerCommand())
	return cmd
}

func newClusterRemoveBrokerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove-broker NODE_ID",
		Short: "Decommission a broker: move its replicas to the others, then remove it from the cluster",
		Long: `Decommission the broker NODE_ID: it is marked decommissioning, so that no new
replica lands on it; every partition replica it holds moves to another
broker while producers and consumers go on; it leaves the metadata and
consumer offsets groups; then it leaves the cluster. By default the command
waits until the broker holds no replica and is gone from cluster describe,
showing the progress; then stop its process. Its node id cannot join again.

Refused when a partition would be left under its replication factor with no
other broker to move a replica to (add a broker first, or lower the
replication factor with partition reassign), for the last broker, and for
the initial brokers (--peers).`,
		Example: "  runnel cluster remove-broker 4",
		Args:    cobra.ExactArgs(1),
	}
	dial := adminFlag(cmd)
	noWait := cmd.Flags().Bool("no-wait", false, "return once the broker is marked decommissioning")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var id int32
		if _, err := fmt.Sscan(args[0], &id); err != nil || id <= 0 {
			return fmt.Errorf("node id %q: want a positive number", args[0])
		}
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		n, err := adm.RemoveBroker(cmd.Context(), id)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "Decommissioning broker %d: moving its %d partition replica(s) to the other brokers\n", id, n)
		if *noWait {
			return nil
		}
		last := ""
		for {
			listed, now, err := brokerProgress(cmd.Context(), adm, id)
			if err != nil {
				return err
			}
			if !listed {
				fmt.Fprintf(out, "Done: broker %d left the cluster; stop its process\n", id)
				return nil
			}
			if now != last {
				fmt.Fprintln(out, now)
				last = now
			}
			select {
			case <-cmd.Context().Done():
				return cmd.Context().Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return cmd
}

// brokerProgress says whether the cluster still lists broker id, and what
// it holds: the partitions with a replica on it.
func brokerProgress(ctx context.Context, adm *client.Admin, id int32) (bool, string, error) {
	cluster, err := adm.DescribeCluster(ctx)
	if err != nil {
		return false, "", err
	}
	if !slices.ContainsFunc(cluster.Brokers, func(b *runnelv1.Broker) bool { return b.NodeId == id }) {
		return false, "", nil
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return false, "", err
	}
	var holds []string
	for _, t := range topics {
		desc, err := adm.DescribeTopic(ctx, t.Name)
		if status.Code(err) == codes.NotFound {
			continue // deleted meanwhile
		} else if err != nil {
			return false, "", err
		}
		for _, p := range desc.Partitions {
			if slices.Contains(p.Replicas, id) {
				holds = append(holds, fmt.Sprintf("%s-%d", t.Name, p.Partition))
			}
		}
	}
	if len(holds) == 0 {
		return true, fmt.Sprintf("broker %d holds no replica: leaving the metadata and consumer offsets groups", id), nil
	}
	const shown = 5
	n, more := len(holds), ""
	if len(holds) > shown {
		more = fmt.Sprintf(" and %d more", len(holds)-shown)
		holds = holds[:shown]
	}
	return true, fmt.Sprintf("broker %d still holds %d partition replica(s): %s%s", id, n, strings.Join(holds, ", "), more), nil
}

func newClusterDescribeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe",
		Short: "List the brokers, their state as the controller sees it and their versions, and the controller",
		Args:  cobra.NoArgs,
	}
	dial := adminFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		adm, c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		resp, err := adm.DescribeCluster(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "Cluster: %s  Controller: %d\n", resp.ClusterId, resp.ControllerId)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NODE\tADDRESS\tSTATE\tVERSION")
		for _, b := range resp.Brokers {
			state := strings.ToLower(strings.TrimPrefix(b.State.String(), "BROKER_STATE_"))
			if b.Decommissioning {
				state += ", decommissioning"
			}
			version := b.Version
			if version == "" {
				version = "unknown"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", b.NodeId, b.Address, state, version)
		}
		return w.Flush()
	}
	return cmd
}
