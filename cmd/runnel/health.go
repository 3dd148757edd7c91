package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/runnel-broker/runnel/client"
)

func newHealthCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Ask one broker whether it serves (grpc.health.v1 Check): exit 0 if SERVING, 1 otherwise",
		Long: `Ask one broker whether it serves, by the gRPC health service
(grpc.health.v1.Health/Check) on its client port, and exit 0 if it answers
SERVING, 1 otherwise (NOT_SERVING while a cluster's broker waits for a
quorum, or once it shuts down; no answer within --timeout). It prints the
status it got.

It is the check of the container image's HEALTHCHECK and of exec probes;
Kubernetes 1.24 and later also probe gRPC health natively (grpc: in a
probe), and grpcurl or grpc_health_probe ask the same service.

Unlike the client commands, it asks the one broker given, not the first
of a list that answers: a broker's health is its own.

A broker serving TLS is asked over TLS with the --tls-* flags, as the
other client commands do. In the broker's own container, RUNNEL_TLS_CERT
and RUNNEL_TLS_KEY serve both commands: set RUNNEL_TLS_CA (and, when the
certificate names no 127.0.0.1, RUNNEL_TLS_SERVER_NAME) for the check
to trust the broker.`,
		Args: cobra.NoArgs,
	}
	broker := brokerList{client.DefaultAddress}
	cmd.Flags().Var(&broker, "broker", "the broker to ask, host:port (env RUNNEL_BROKER)")
	tls := addTLSFlags(cmd)
	service := cmd.Flags().String("service", "", `the service to ask about ("": the broker as a whole)`)
	timeout := cmd.Flags().Duration("timeout", 5*time.Second, "how long to wait for the answer")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if len(broker) != 1 {
			return errors.New("--broker: give one address: a health check asks one broker")
		}
		var opts []client.Option
		opt, err := tls.option()
		if err != nil {
			return err
		}
		if opt != nil {
			opts = append(opts, opt)
		}
		c, err := client.Dial(broker[0], opts...)
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), *timeout)
		defer cancel()
		// NB: not WaitForReady: a broker that refuses connections is
		// unhealthy now, not one to wait for.
		resp, err := healthpb.NewHealthClient(c.Conn()).Check(ctx, &healthpb.HealthCheckRequest{Service: *service})
		if err != nil {
			return fmt.Errorf("health of %s: %w", broker[0], err)
		}
		fmt.Fprintln(cmd.OutOrStdout(), resp.Status)
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("%s is %s", broker[0], resp.Status)
		}
		return nil
	}
	return cmd
}
