package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel-broker/runnel/server"
)

func newServeCommand() *cobra.Command {
	cfg := server.DefaultConfig()
	var logLevel slog.Level
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a broker. Every flag can also be set with an environment variable:
--data-dir with RUNNEL_DATA_DIR, --listen with RUNNEL_LISTEN, and so on.
SIGTERM or SIGINT shuts it down gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
			startCtx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			srv, err := server.New(startCtx, cfg)
			if err != nil {
				return err
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve() }()
			select {
			case err := <-served:
				return err
			case <-cmd.Context().Done():
				cfg.Logger.Info("shutting down")
				if err := srv.Shutdown(context.Background()); err != nil {
					return err
				}
				return <-served
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory holding the partitions' data")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "gRPC listen address")
	f.StringVar(&cfg.HTTPListen, "http-listen", cfg.HTTPListen, "HTTP listen address for /metrics and /healthz")
	f.Int32Var(&cfg.NodeID, "node-id", cfg.NodeID, "this broker's id")
	f.DurationVar(&cfg.RetentionCheckInterval, "retention-check-interval", cfg.RetentionCheckInterval, "how often old segments are deleted")
	f.TextVar(&logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	return cmd
}
