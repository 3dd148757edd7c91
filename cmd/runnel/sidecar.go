package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel-broker/runnel/sidecar"
)

func newSidecarCommand() *cobra.Command {
	var (
		upstream   brokerList
		listen     = "127.0.0.1:7400"
		advertise  string
		httpListen       = "127.0.0.1:7401"
		dataDir          = "./data-sidecar"
		spoolBytes int64 = 1 << 30
		endToEnd   bool
		readyFile  string
		logLevel   slog.Level
		logFormat  = logFormatText

		upstreamToken    string
		upstreamTLSFlags *tlsFlags

		tlsCert, tlsKey, tlsClientCA string
	)
	cmd := &cobra.Command{
		Use:   "sidecar --upstream HOST:PORT[,HOST:PORT...]",
		Short: "Run a local agent that serves the broker API and never makes the application wait for the cluster",
		Long: `Run a sidecar: beside an application, on localhost, it serves Runnel's gRPC
API (Produce, Subscribe, Commit, Admin, health, reflection), so that the
application's SDK, its generated stubs and grpcurl cannot tell it from a
broker. Every flag can also be set with an environment variable
(--upstream with RUNNEL_UPSTREAM, and so on).

Produce is acknowledged once the records are fsync'd in the sidecar's
spool (--data-dir, bounded by --spool-bytes); the sidecar forwards them to
the cluster in order per partition, as an idempotent producer, so that
nothing it acknowledged is lost or duplicated when the cluster is down,
electing a leader, or when the sidecar itself is killed and restarted.
When the spool is full, Produce answers RESOURCE_EXHAUSTED.

A request with acks ACKS_ALL (or ACKS_LEADER) waits for the cluster's
acknowledgement, end to end, and gets the cluster's offsets; one that
leaves acks unset is acknowledged once spooled (base_offset -1), unless
--end-to-end. A spooled record is only as safe as the sidecar's volume
until it is forwarded.

Subscribe, Commit and Admin calls are relayed to the cluster. A
subscription whose upstream broker dies or shuts down is resumed on
another, from the record after the last one the application was sent (a
group member re-attaches as the member it was), so the application's
stream sees neither a gap nor a repeat; it ends UNAVAILABLE after 30s
without any broker.

  runnel sidecar --upstream 10.0.0.1:7400,10.0.0.2:7400,10.0.0.3:7400
  runnel sidecar status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := logFormat.logger(cmd.ErrOrStderr(), logLevel)
			upstreamTLS, err := upstreamTLSFlags.config()
			if err != nil {
				return err
			}
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			var httpLis net.Listener
			if httpListen != "" {
				if httpLis, err = net.Listen("tcp", httpListen); err != nil {
					lis.Close()
					return fmt.Errorf("--http-listen: %w", err)
				}
			}
			sc, err := sidecar.Start(sidecar.Config{Upstream: upstream, Listener: lis, HTTPListener: httpLis, Advertise: advertise, DataDir: dataDir,
				SpoolBytes: spoolBytes, EndToEnd: endToEnd, UpstreamTLS: upstreamTLS, UpstreamToken: upstreamToken,
				TLSCertFile: tlsCert, TLSKeyFile: tlsKey, TLSClientCAFile: tlsClientCA, Logger: logger})
			if err != nil {
				lis.Close()
				if httpLis != nil {
					httpLis.Close()
				}
				return err
			}
			if readyFile != "" {
				info := map[string]any{"grpc": lis.Addr().String(), "pid": os.Getpid()}
				if httpLis != nil {
					info["http"] = httpLis.Addr().String()
				}
				if err := writeJSONAtomically(readyFile, info); err != nil {
					logger.Warn("write the ready file", "file", readyFile, "err", err)
				}
			}
			<-cmd.Context().Done()
			if readyFile != "" {
				os.Remove(readyFile)
			}
			logger.Info("sidecar: shutting down")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return sc.Shutdown(ctx)
		},
	}
	f := cmd.Flags()
	f.Var(&upstream, "upstream", "the cluster's brokers (client addresses); one is enough, more are tried in turn")
	f.StringVar(&listen, "listen", listen, "gRPC listen address the application calls")
	f.StringVar(&advertise, "advertise", "", "the address the application reaches the sidecar on, which DescribeCluster names (default: the --listen address)")
	f.StringVar(&httpListen, "http-listen", httpListen, `HTTP listen address for /metrics, /healthz and /status ("": none)`)
	f.StringVar(&dataDir, "data-dir", dataDir, "directory of the spool (keep it on the pod's volume)")
	f.Int64Var(&spoolBytes, "spool-bytes", spoolBytes, "most bytes the spool takes on disk; past it Produce answers RESOURCE_EXHAUSTED")
	f.BoolVar(&endToEnd, "end-to-end", false, "acknowledge requests that leave acks unset once the cluster has them (as ACKS_ALL), not once spooled")
	f.StringVar(&readyFile, "ready-file", "", `once serving, write {"grpc":HOST:PORT,"http":HOST:PORT,"pid":N} to this file (atomically)`)
	f.TextVar(&logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	f.Var(&logFormat, "log-format", "log format: text (key=value) or json (one object a line)")
	f.StringVar(&upstreamToken, "upstream-token", "", "bearer token the sidecar forwards spooled records with, for a cluster with --token-file; relayed calls carry the application's")
	upstreamTLSFlags = addPrefixedTLSFlags(cmd, "upstream-", "the cluster's brokers")
	f.StringVar(&tlsCert, "tls-cert", "", "PEM certificate the sidecar serves gRPC and HTTP with (TLS, reloaded when it changes), with --tls-key; default: plaintext, for an application on localhost")
	f.StringVar(&tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&tlsClientCA, "tls-client-ca", "", "PEM bundle of the CAs that sign the applications' client certificates: the sidecar then requires one (mTLS)")
	cmd.MarkFlagRequired("upstream")
	cmd.AddCommand(newSidecarStatusCommand())
	return cmd
}

func newSidecarStatusCommand() *cobra.Command {
	httpAddr := "127.0.0.1:7401"
	var tlsFlags *tlsFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a sidecar's backlog: what it spooled and has not forwarded yet, per partition",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			tlsConfig, err := tlsFlags.config()
			if err != nil {
				return err
			}
			scheme, client := "http://", http.DefaultClient
			if tlsConfig != nil {
				scheme, client = "https://", &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+httpAddr+"/status", nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("the sidecar's HTTP listener (--http %s): %w", httpAddr, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s/status answered %s: is it a sidecar's HTTP listener?", httpAddr, resp.Status)
			}
			var st sidecar.Status
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				return fmt.Errorf("%s/status: %w", httpAddr, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "upstream %v\nspool %d of %d bytes, %d records waiting, the oldest for %.1fs\n\n",
				st.Upstream, st.SpoolBytes, st.SpoolLimitBytes, st.RecordsWaiting, st.OldestWaitingSeconds)
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TOPIC\tPARTITION\tSPOOLED\tFORWARDED\tWAITING\tOLDEST\tLAST ERROR")
			for _, p := range st.Partitions {
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%.1fs\t%s\n", p.Topic, p.Partition, p.Spooled, p.Forwarded, p.Waiting, p.OldestWaitingSeconds, p.LastError)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&httpAddr, "http", httpAddr, "the sidecar's --http-listen address")
	tlsFlags = addPrefixedTLSFlags(cmd, "", "the sidecar")
	return cmd
}

// writeJSONAtomically writes v to path through a rename, so that a reader
// sees all of it or no file.
func writeJSONAtomically(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
