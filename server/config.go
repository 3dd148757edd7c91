package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures a Server. Zero values take the defaults of
// DefaultConfig.
type Config struct {
	// DataDir holds the partitions' data.
	DataDir string
	// Listen is the gRPC address; HTTPListen serves /metrics and /healthz.
	Listen     string
	HTTPListen string
	// NodeID is this broker's id in the cluster.
	NodeID int32
	// RetentionCheckInterval is how often partitions delete old segments.
	RetentionCheckInterval time.Duration
	// ShutdownTimeout bounds how long Shutdown waits for calls in flight.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// DefaultConfig is the single-node sidecar default.
func DefaultConfig() Config {
	return Config{
		DataDir:                "./data",
		Listen:                 "127.0.0.1:7400",
		HTTPListen:             "127.0.0.1:7401",
		NodeID:                 1,
		RetentionCheckInterval: time.Minute,
		ShutdownTimeout:        10 * time.Second,
		Logger:                 slog.Default(),
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.HTTPListen == "" {
		c.HTTPListen = d.HTTPListen
	}
	if c.NodeID == 0 {
		c.NodeID = d.NodeID
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = d.RetentionCheckInterval
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Validate reports what is wrong with the configuration, defaults applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	}
	if _, _, err := net.SplitHostPort(c.HTTPListen); err != nil {
		errs = append(errs, fmt.Errorf("http listen address %q: %w", c.HTTPListen, err))
	}
	if c.NodeID < 0 {
		errs = append(errs, fmt.Errorf("node id %d: must be positive", c.NodeID))
	}
	if c.RetentionCheckInterval < 0 || c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	return errors.Join(errs...)
}
