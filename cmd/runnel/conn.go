package main

import (
	"github.com/spf13/cobra"

	"github.com/runnel-broker/runnel/client"
)

// brokerFlag adds --broker to a client command and returns a function that
// dials it.
func brokerFlag(cmd *cobra.Command) func() (*client.Client, error) {
	addr := cmd.Flags().String("broker", client.DefaultAddress, "broker gRPC address (env RUNNEL_BROKER)")
	return func() (*client.Client, error) { return client.Dial(*addr) }
}
