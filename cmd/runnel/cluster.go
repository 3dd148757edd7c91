package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newClusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Look at the cluster"}
	cmd.AddCommand(newClusterDescribeCommand())
	return cmd
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
