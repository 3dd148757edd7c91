package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runnel-broker/runnel/client"
)

// brokerFlag adds --broker to a client command and returns a function that
// connects through it: client.New, which asks the addresses in turn and
// keeps the first that answers, and learns the rest of the cluster from
// it. The admin helpers (client.Admin) and the producer fail over to the
// others later, when that one fails.
func brokerFlag(cmd *cobra.Command) func(context.Context, ...client.Option) (*client.Client, error) {
	brokers := brokerList{client.DefaultAddress}
	var token string
	cmd.Flags().Var(&brokers, "broker", "brokers to bootstrap from, comma-separated: the first that answers is used, the others if it fails (env RUNNEL_BROKER)")
	cmd.Flags().StringVar(&token, "token", "", "bearer token to authenticate with, for brokers with a --token-file (env RUNNEL_TOKEN)")
	return func(ctx context.Context, opts ...client.Option) (*client.Client, error) {
		if token != "" {
			opts = append(opts, client.WithToken(token))
		}
		return client.New(ctx, brokers, opts...)
	}
}

// adminFlag is brokerFlag for the admin commands: it connects and
// returns the client's admin helpers, and the client to close.
func adminFlag(cmd *cobra.Command) func(context.Context, ...client.Option) (*client.Admin, *client.Client, error) {
	dial := brokerFlag(cmd)
	return func(ctx context.Context, opts ...client.Option) (*client.Admin, *client.Client, error) {
		c, err := dial(ctx, opts...)
		if err != nil {
			return nil, nil, err
		}
		return client.NewAdmin(c), c, nil
	}
}

// brokerList is --broker: host:port addresses, comma-separated.
type brokerList []string

func (l *brokerList) String() string { return strings.Join(*l, ",") }

func (l *brokerList) Type() string { return "host:port[,host:port...]" }

func (l *brokerList) Set(s string) error {
	addrs, err := parseBrokers(s)
	if err != nil {
		return err
	}
	*l = addrs
	return nil
}

// parseBrokers reads a comma-separated list of host:port addresses
// (an IPv6 host in brackets: [::1]:7400), dropping repeats.
func parseBrokers(s string) ([]string, error) {
	var addrs []string
	for a := range strings.SplitSeq(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return nil, errors.New("an empty address: want host:port, comma-separated")
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			var ae *net.AddrError
			if errors.As(err, &ae) {
				err = errors.New(ae.Err)
			}
			return nil, fmt.Errorf("%q: %v: want host:port (an IPv6 host in brackets, [::1]:7400), comma-separated", a, err)
		}
		if host == "" {
			return nil, fmt.Errorf("%q: no host: want host:port, as 127.0.0.1:7400", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: port %q: want a number from 1 to 65535", a, port)
		}
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}
