package sidecar

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/tlsfiles"
	"github.com/runnel-broker/runnel/raftstore/spool"
)

// Config configures a sidecar.
type Config struct {
	// Upstream is the cluster's brokers (host:port), any number of them:
	// the sidecar learns the rest from them.
	Upstream []string
	// UpstreamTLS, when set, is how the sidecar reaches brokers that
	// serve TLS; nil: plaintext.
	UpstreamTLS *tls.Config
	// UpstreamToken, when set, authenticates the sidecar's own calls (the
	// forwarding of spooled records, its metadata requests) with a bearer
	// token; relayed calls carry the application's, if it sent one.
	UpstreamToken string
	// Listener and HTTPListener are where it serves gRPC and HTTP
	// (/metrics, /healthz, /status); HTTPListener nil: no HTTP.
	Listener, HTTPListener net.Listener
	// TLSCertFile and TLSKeyFile, when set (both or neither), are the PEM
	// certificate and key the sidecar serves gRPC and HTTP with, TLS 1.2
	// at least, read again when they change (rotation). TLSClientCAFile
	// then makes both listeners require a client certificate that its CAs
	// signed (mTLS). None: plaintext, for an application on localhost.
	TLSCertFile, TLSKeyFile, TLSClientCAFile string
	// Advertise is the address the application reaches the sidecar on,
	// which DescribeCluster names (default: the listener's).
	Advertise string
	// DataDir holds the spool and the saved topic metadata.
	DataDir string
	// SpoolBytes bounds the spool on disk.
	SpoolBytes int64
	// EndToEnd makes requests that leave acks unset wait for the cluster's
	// ack, as ACKS_ALL does; by default they are acked once spooled.
	EndToEnd bool
	// MetadataMaxAge is how old a topic's partition count may be before
	// the sidecar asks the cluster again (default 30s).
	MetadataMaxAge time.Duration
	// MaxRequestBytes bounds a request from the application (default
	// 16 MiB).
	MaxRequestBytes int
	Logger          *slog.Logger
}

// Sidecar is a running sidecar.
type Sidecar struct {
	cfg     Config
	logger  *slog.Logger
	spool   *spool.Spool
	up      *upstream
	meta    *metadata
	metrics *metrics
	grpc    *grpc.Server
	http    *http.Server
	health  *health.Server

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex // guards forwarders
	forwarders map[*spool.Queue]*forwarder
	grpcDone   chan error

	shutdown    sync.Once
	shutdownErr error
}

// Start opens the spool, starts forwarding what it holds and serves.
func Start(cfg Config) (*Sidecar, error) {
	if len(cfg.Upstream) == 0 {
		return nil, errors.New("sidecar: no upstream broker: name the cluster's brokers (--upstream host:port,...)")
	}
	if cfg.Listener == nil || cfg.DataDir == "" || cfg.SpoolBytes <= 0 {
		return nil, errors.New("sidecar: a listener, a data directory and a positive spool size are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	grpcTLS, httpTLS, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.MetadataMaxAge <= 0 {
		cfg.MetadataMaxAge = 30 * time.Second
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 16 << 20
	}
	sp, err := spool.Open(cfg.DataDir, spool.Options{MaxBytes: cfg.SpoolBytes, ProducerExpiry: 24 * time.Hour, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("sidecar: open the spool: %w", err)
	}
	s := &Sidecar{cfg: cfg, logger: cfg.Logger, spool: sp, up: newUpstream(cfg.Upstream, cfg.UpstreamTLS, cfg.UpstreamToken), forwarders: map[*spool.Queue]*forwarder{}}
	s.meta, err = openMetadata(s.up, cfg.DataDir, cfg.MetadataMaxAge, cfg.Logger)
	if err != nil {
		sp.Close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	registry := prometheus.NewRegistry()
	s.metrics = newMetrics(s, registry)
	grpcMetrics := grpcprom.NewServerMetrics()
	registry.MustRegister(grpcMetrics)

	recovered := func(p any) error {
		s.logger.Error("sidecar: panic in a call", "panic", p)
		return status.Errorf(codes.Internal, "the sidecar failed on this request: %v", p)
	}
	serverOpts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(newRelayCodec()),
		grpc.UnknownServiceHandler(s.relay),
		grpc.MaxRecvMsgSize(cfg.MaxRequestBytes),
		grpc.MaxSendMsgSize(maxMessageBytes),
		grpc.ChainUnaryInterceptor(grpcMetrics.UnaryServerInterceptor(), recovery.UnaryServerInterceptor(recovery.WithRecoveryHandler(recovered))),
		grpc.ChainStreamInterceptor(grpcMetrics.StreamServerInterceptor(), recovery.StreamServerInterceptor(recovery.WithRecoveryHandler(recovered))),
	}
	if grpcTLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(grpcTLS)))
	}
	s.grpc = grpc.NewServer(serverOpts...)
	runnelv1.RegisterProduceServiceServer(s.grpc, &produceService{s: s})
	runnelv1.RegisterSubscribeServiceServer(s.grpc, &subscribeService{s: s})
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	opts := reflection.ServerOptions{Services: serviceInfo{s.grpc}}
	reflectionv1.RegisterServerReflectionServer(s.grpc, reflection.NewServerV1(opts))
	reflectionv1alpha.RegisterServerReflectionServer(s.grpc, reflection.NewServer(opts))
	grpcMetrics.InitializeMetrics(s.grpc)

	for _, q := range sp.Queues() {
		s.startForwarder(q)
	}
	s.wg.Go(func() {
		// NB: the brokers' addresses (to send each partition to its
		// leader) and the cluster id, ahead of the first request.
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		s.meta.describeCluster(ctx)
	})
	s.grpcDone = make(chan error, 1)
	go func() { s.grpcDone <- s.grpc.Serve(cfg.Listener) }()
	if cfg.HTTPListener != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(s.status())
		})
		s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: httpTLS}
		if httpTLS != nil {
			go s.http.ServeTLS(cfg.HTTPListener, "", "")
		} else {
			go s.http.Serve(cfg.HTTPListener)
		}
	}
	s.logger.Info("sidecar: serving", "listen", s.Addr(), "tls", tlsMode(cfg), "upstream", cfg.Upstream, "data_dir", cfg.DataDir,
		"spool_bytes", cfg.SpoolBytes, "spooled_partitions", len(sp.Queues()))
	return s, nil
}

// loadTLS reads the TLS files cfg names: the gRPC and HTTP listeners'
// configs, nil for plaintext. Its errors name the flag at fault.
func loadTLS(cfg Config) (grpcTLS, httpTLS *tls.Config, err error) {
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, nil, errors.New("sidecar: --tls-cert and --tls-key go together: give both, the certificate and its private key")
	}
	if cfg.TLSCertFile == "" {
		if cfg.TLSClientCAFile != "" {
			return nil, nil, errors.New("sidecar: --tls-client-ca needs --tls-cert and --tls-key: client certificates are verified over TLS")
		}
		return nil, nil, nil
	}
	pair, err := tlsfiles.LoadKeyPair(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.Logger)
	if err != nil {
		return nil, nil, fmt.Errorf("sidecar: --tls-cert/--tls-key: %w", err)
	}
	var clientCAs *tlsfiles.CAs
	if cfg.TLSClientCAFile != "" {
		if clientCAs, err = tlsfiles.LoadCAs(cfg.TLSClientCAFile, cfg.Logger); err != nil {
			return nil, nil, fmt.Errorf("sidecar: --tls-client-ca: %w", err)
		}
	}
	return tlsfiles.ServerConfig(pair, clientCAs), tlsfiles.ServerConfig(pair, clientCAs, "h2", "http/1.1"), nil
}

// tlsMode says how the listeners are secured, for the serving log line.
func tlsMode(cfg Config) string {
	switch {
	case cfg.TLSCertFile == "":
		return "off"
	case cfg.TLSClientCAFile != "":
		return "mtls"
	}
	return "on"
}

// Addr is the sidecar's gRPC address.
func (s *Sidecar) Addr() string { return s.cfg.Listener.Addr().String() }

// advertised is the address DescribeCluster gives the application.
func (s *Sidecar) advertised() string {
	if s.cfg.Advertise != "" {
		return s.cfg.Advertise
	}
	return s.Addr()
}

// Status returns the sidecar's backlog.
func (s *Sidecar) Status() Status { return s.status() }

// queue returns the partition's queue and its forwarder, started on
// first use.
func (s *Sidecar) queue(topic string, partition int32) (*spool.Queue, *forwarder, error) {
	q, err := s.spool.Queue(topic, partition)
	if err != nil {
		return nil, nil, err
	}
	return q, s.startForwarder(q), nil
}

func (s *Sidecar) startForwarder(q *spool.Queue) *forwarder {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.forwarders[q]; f != nil {
		return f
	}
	f := newForwarder(s, q)
	s.forwarders[q] = f
	s.wg.Go(func() { f.run(s.ctx) })
	return f
}

func (s *Sidecar) forwarderOf(q *spool.Queue) *forwarder {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forwarders[q]
}

// Shutdown stops serving (calls in flight get until ctx ends), stops
// forwarding and closes the spool: what it holds is forwarded by the next
// start. Calls after the first return its error.
func (s *Sidecar) Shutdown(ctx context.Context) error {
	s.shutdown.Do(func() { s.shutdownErr = s.stop(ctx) })
	return s.shutdownErr
}

func (s *Sidecar) stop(ctx context.Context) error {
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
	}
	<-s.grpcDone
	if s.http != nil {
		s.http.Shutdown(ctx)
	}
	s.cancel()
	s.wg.Wait()
	return errors.Join(s.spool.Close(), s.up.close())
}
