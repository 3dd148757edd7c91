package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runnel-broker/runnel/client"
	"github.com/runnel-broker/runnel/internal/tlsfiles"
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
	tls := addTLSFlags(cmd)
	return func(ctx context.Context, opts ...client.Option) (*client.Client, error) {
		opt, err := tls.option()
		if err != nil {
			return nil, err
		}
		if opt != nil {
			opts = append([]client.Option{opt}, opts...)
		}
		if token != "" {
			opts = append(opts, client.WithToken(token))
		}
		// NB: first, so that a command's own logger wins.
		opts = append([]client.Option{client.WithLogger(clientLogger(cmd.ErrOrStderr()))}, opts...)
		return client.New(ctx, brokers, opts...)
	}
}

// clientLogger is what the SDK tells a client command's user on stderr:
// its warnings, such as a consumer's read that broke and is being retried,
// so that a consumer waiting for a broker that is down says why nothing
// arrives. The SDK's retries that do not keep records from the user (a
// batch sent again, another broker asked) are Info, and not shown.
func clientLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// tlsFlags are a client command's --tls-* flags: how it reaches brokers
// that serve TLS (runnel serve --tls-cert).
type tlsFlags struct {
	prefix                    string // of the flags' names, "--" included
	on                        bool
	ca, cert, key, serverName string
}

// addTLSFlags adds the --tls-* flags to a command that dials a broker.
// Like every flag, each has its RUNNEL_* variable (--tls-ca is
// RUNNEL_TLS_CA): in a broker's container, RUNNEL_TLS_CERT and
// RUNNEL_TLS_KEY are then the broker's certificate for serve and the
// client certificate of runnel health alike.
func addTLSFlags(cmd *cobra.Command) *tlsFlags { return addPrefixedTLSFlags(cmd, "", "brokers") }

// addPrefixedTLSFlags adds them named --PREFIXtls-*, for dialing whom
// (the sidecar's --upstream-tls-* to reach its cluster).
func addPrefixedTLSFlags(cmd *cobra.Command, prefix, whom string) *tlsFlags {
	f := &tlsFlags{prefix: "--" + prefix}
	fs := cmd.Flags()
	fs.BoolVar(&f.on, prefix+"tls", false, fmt.Sprintf("connect to %s over TLS, trusting the system's CAs (implied by any other --%stls-* flag)", whom, prefix))
	fs.StringVar(&f.ca, prefix+"tls-ca", "", fmt.Sprintf("PEM file of the CAs to verify %s against, instead of the system's (implies --%stls)", whom, prefix))
	fs.StringVar(&f.cert, prefix+"tls-cert", "", fmt.Sprintf("PEM file of a client certificate to present to %s, where a --tls-client-ca requires one; with --%stls-key (implies --%stls)", whom, prefix, prefix))
	fs.StringVar(&f.key, prefix+"tls-key", "", fmt.Sprintf("PEM file of the client certificate's private key; with --%stls-cert", prefix))
	fs.StringVar(&f.serverName, prefix+"tls-server-name", "", fmt.Sprintf("the name the certificate of %s must hold, instead of the host dialled (implies --%stls)", whom, prefix))
	return f
}

// config returns the TLS config the flags make: nil for plaintext. A
// missing or bad file is an error naming its flag.
func (f *tlsFlags) config() (*tls.Config, error) {
	if !f.on && f.ca == "" && f.cert == "" && f.key == "" && f.serverName == "" {
		return nil, nil
	}
	if (f.cert == "") != (f.key == "") {
		return nil, fmt.Errorf("%[1]stls-cert and %[1]stls-key go together: give both, the client certificate and its private key", f.prefix)
	}
	var roots *tlsfiles.CAs
	var pair *tlsfiles.KeyPair
	var err error
	if f.ca != "" {
		if roots, err = tlsfiles.LoadCAs(f.ca, nil); err != nil {
			return nil, fmt.Errorf("%stls-ca: %w", f.prefix, err)
		}
	}
	if f.cert != "" {
		if pair, err = tlsfiles.LoadKeyPair(f.cert, f.key, nil); err != nil {
			return nil, fmt.Errorf("%[1]stls-cert/%[1]stls-key: %w", f.prefix, err)
		}
	}
	return tlsfiles.ClientConfig(roots, pair, f.serverName), nil
}

// option returns the client option the flags make: nil for plaintext.
func (f *tlsFlags) option() (client.Option, error) {
	cfg, err := f.config()
	if cfg == nil || err != nil {
		return nil, err
	}
	return client.WithTLS(cfg), nil
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
