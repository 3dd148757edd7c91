package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/buildinfo"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/raftstore/transport"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/peer"
)

// maxMessageBytes is the largest gRPC message the server takes, the raft
// transport's batches included (transport/limits.go ties it to the
// largest raft entry). Produce requests have their own, lower limit
// (Config.MaxRequestBytes), enforced by the codec.
const maxMessageBytes = raftstore.MaxMessageBytes

// Server is a running broker: its listeners, gRPC server and data.
type Server struct {
	cfg    Config
	logger *slog.Logger
	tls    *brokerTLS // nil: plaintext
	broker *broker.Broker
	peers  *peer.Pool // every call to another broker
	// raft carries raft messages to and from the other brokers; served
	// on the peer listener.
	raft *transport.Transport
	// grpc serves clients on listener; peerGRPC the other brokers on
	// peerListener (the raft transport, joining, forwarded calls).
	grpc, peerGRPC *grpc.Server
	http           *http.Server
	health         *health.Server

	listener, peerListener, httpListener net.Listener
	// conns tells a stream whose connection was lost from one cancelled.
	conns *conns
	// guard authenticates and authorizes the client listener's calls.
	guard *guard
	// quotas throttle the client listener's principals over their quotas.
	quotas *throttler
	// secret, when set, is what the peer listener requires of a call.
	secret   clusterSecret
	grpcDone chan error // both gRPC servers' Serve results

	stopping context.Context // done once Shutdown starts
	stop     context.CancelFunc
	produce  *produceService
	budget   *memoryBudget // bytes held for the streams served
	metrics  *edgeMetrics

	readyMu      sync.Mutex // orders writing the ready file (Serve) and removing it (Shutdown)
	readyGone    bool       // Shutdown removed it: not to be written again
	shutdownOnce sync.Once
	shutdownErr  error
}

// New binds the listeners, opens the data directory (recovering it) and
// starts the broker: gRPC answers from here on (the other brokers need it
// while this one starts), clients get UNAVAILABLE until the broker has
// started. Call Serve to serve HTTP and wait.
func New(ctx context.Context, cfg Config) (*Server, error) {
	given := []net.Listener{cfg.Listener, cfg.PeerListener, cfg.HTTPListener}
	closeGiven := func() {
		for _, l := range given {
			if l != nil {
				l.Close()
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		closeGiven()
		return nil, err
	}
	cfg = cfg.withDefaults()
	// NB: before binding: a bad file is the operator's to fix, and said
	// at once.
	tlsFiles, err := loadTLS(cfg, cfg.Logger)
	if err != nil {
		closeGiven()
		return nil, err
	}
	secret, err := loadClusterSecret(cfg.ClusterSecretFile)
	if err != nil {
		closeGiven()
		return nil, err
	}
	guard, err := newGuard(cfg)
	if err != nil {
		closeGiven()
		return nil, err
	}
	// NB: before binding: a file left by an earlier run (killed, so it
	// could not remove it) must not say this one serves.
	if err := removeReadyFile(cfg.ReadyFile); err != nil {
		closeGiven()
		return nil, err
	}
	var listeners []net.Listener
	closeListeners := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for i, addr := range []string{cfg.Listen, cfg.PeerListen, cfg.HTTPListen} {
		if given[i] != nil {
			listeners = append(listeners, given[i])
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeListeners()
			for _, l := range given[i:] {
				if l != nil {
					l.Close()
				}
			}
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		listeners = append(listeners, l)
	}
	lis, peerLis, httpLis := listeners[0], listeners[1], listeners[2]
	var perRPC credentials.PerRPCCredentials
	if secret != "" {
		perRPC = secret
	}
	fwd := peer.NewPool(tlsFiles.dialCreds(), perRPC)
	advertised, advertisedPeer := cfg.Advertise, cfg.AdvertisePeer
	if advertised == "" {
		advertised = lis.Addr().String()
	}
	if advertisedPeer == "" {
		advertisedPeer = peerLis.Addr().String()
	}
	var j joined
	if cfg.Join != "" {
		if j, err = join(ctx, fwd, cfg.Join, cfg.NodeID, advertised, advertisedPeer, cfg.Logger); err != nil {
			closeListeners()
			return nil, err
		}
		cfg.Peers = j.brokers
	}
	hasData, err := broker.HasMetadata(cfg.DataDir)
	if err != nil {
		closeListeners()
		return nil, err
	}
	// NB: a single broker has one too: brokers may join it later.
	// NB: srv is set below, before anything is served.
	var srv *Server
	raft := transport.New(transport.Config{NodeID: uint64(cfg.NodeID), Credentials: tlsFiles.dialCreds(), PerRPCCredentials: perRPC,
		Authenticate: func(ctx context.Context, from uint64) error { return srv.checkPeer(ctx, int32(from)) }, Logger: cfg.Logger})
	// NB: before the broker, which tells them of each topic deleted.
	edge := newEdgeMetrics()
	b, err := broker.New(broker.Config{
		Transport:       raft,
		DataDir:         cfg.DataDir,
		NodeID:          cfg.NodeID,
		Peers:           cfg.Peers,
		Joining:         cfg.Join != "",
		JoinedClusterID: j.clusterID,
		Rejoin:          j.known && !hasData,
		PeersCluster: func(ctx context.Context) (string, error) {
			return peersCluster(ctx, fwd, cfg.Peers, cfg.NodeID, cfg.Logger)
		},
		AdvertisedAddress:       advertised,
		AdvertisedPeerAddress:   advertisedPeer,
		Version:                 buildinfo.Read().String(),
		RetentionCheckInterval:  cfg.RetentionCheckInterval,
		GroupSessionTimeout:     cfg.GroupSessionTimeout,
		GroupRebalanceTimeout:   cfg.GroupRebalanceTimeout,
		ProducerExpiry:          cfg.ProducerIDExpiration,
		GroupAssignor:           cfg.GroupAssignor,
		InternalSnapshotEntries: cfg.InternalSnapshotEntries,
		// NB: as large as the budget: what this broker's producers propose
		// is bounded by the budget already, and they are to wait for it,
		// not have proposals dropped (raftstore raises it to its least).
		MaxUncommittedBytes: cfg.MaxInflightBytes,
		TopicDeleted:        edge.forgetTopic,
		Logger:              cfg.Logger,
	})
	if err != nil {
		raft.Close()
		closeListeners()
		return nil, err
	}
	guard.broker = b
	s := &Server{cfg: cfg, logger: cfg.Logger, tls: tlsFiles, broker: b, peers: fwd, raft: raft, listener: lis, peerListener: peerLis, httpListener: httpLis,
		conns: newConns(), guard: guard, secret: secret, quotas: newThrottler(b)}
	srv = s
	s.stopping, s.stop = context.WithCancel(context.Background())

	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	s.budget = newMemoryBudget(cfg.MaxInflightBytes)
	s.metrics = edge
	registry := s.newRegistry(metrics)

	s.grpc, s.peerGRPC = s.newGRPCServer(metrics, false /* peer */), s.newGRPCServer(metrics, true /* peer */)
	admin := &adminService{broker: b, peers: fwd}
	s.produce = &produceService{broker: b, peers: fwd, metrics: s.metrics, stopping: s.stopping, budget: s.budget, streamBytes: cfg.MaxStreamInflightBytes,
		guard: guard, quotas: s.quotas}
	subscribe := &subscribeService{broker: b, peers: fwd, metrics: s.metrics, stopping: s.stopping, budget: s.budget, streamBytes: cfg.MaxStreamInflightBytes,
		conns: s.conns, quotas: s.quotas}
	commit := &commitService{broker: b, peers: fwd, metrics: s.metrics}
	s.health = health.NewServer()
	// NB: the client API on both: forwarded calls come in on the peer
	// listener. The raft transport and membership only there.
	for _, srv := range []*grpc.Server{s.grpc, s.peerGRPC} {
		runnelv1.RegisterAdminServiceServer(srv, admin)
		runnelv1.RegisterProduceServiceServer(srv, s.produce)
		runnelv1.RegisterSubscribeServiceServer(srv, subscribe)
		runnelv1.RegisterCommitServiceServer(srv, commit)
		healthpb.RegisterHealthServer(srv, s.health)
		reflection.Register(srv)
	}
	raft.Register(s.peerGRPC)
	raftv1.RegisterMembershipServiceServer(s.peerGRPC, &membershipService{broker: b, nodeID: cfg.NodeID, dataDir: cfg.DataDir, checkPeerAt: s.checkPeerAt})
	raftv1.RegisterGroupRelayServiceServer(s.peerGRPC, &groupRelayService{broker: b})
	metrics.InitializeMetrics(s.grpc)
	metrics.InitializeMetrics(s.peerGRPC)
	s.setServing(healthpb.HealthCheckResponse_NOT_SERVING)

	// NB: serve before starting the broker: in a cluster, starting waits
	// for a quorum of brokers, which reach this one on the peer listener.
	s.grpcDone = make(chan error, 2)
	go func() { s.grpcDone <- s.grpc.Serve(s.conns.listen(s.listener)) }()
	go func() { s.grpcDone <- s.peerGRPC.Serve(s.conns.listen(s.peerListener)) }()
	if err := b.Start(ctx); err != nil {
		s.grpc.Stop()
		s.peerGRPC.Stop()
		<-s.grpcDone
		<-s.grpcDone
		fwd.Close()
		raft.Close()
		httpLis.Close()
		return nil, errors.Join(err, b.Close())
	}
	s.setServing(healthpb.HealthCheckResponse_SERVING)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	mux.HandleFunc("GET /healthz", s.healthz)
	// Profiles, for "where does the time go": the HTTP listener is an
	// operator's port (loopback by default), like /metrics.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsFiles.httpConfig(),
		// NB: failed handshakes (a scraper without the CA, plaintext on
		// the TLS port) are logged here, one line each.
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	return s, nil
}

// newGRPCServer returns a gRPC server with the broker's codec, limits and
// interceptors (metrics, logging, recovery, the starting check); the peer
// listener's marks its calls as from there (see forwardedCall).
func (s *Server) newGRPCServer(metrics *grpcprom.ServerMetrics, peer bool) *grpc.Server {
	cfg := s.cfg
	// NB: recovery is inside logging and metrics, so that a panic becomes
	// an Internal status that they see like any other error.
	unary := []grpc.UnaryServerInterceptor{
		metrics.UnaryServerInterceptor(),
		logging.UnaryServerInterceptor(slogAdapter(cfg.Logger), logOptions...),
		recovery.UnaryServerInterceptor(recovery.WithRecoveryHandler(s.recovered)),
		s.unaryStarted,
	}
	stream := []grpc.StreamServerInterceptor{
		metrics.StreamServerInterceptor(),
		logging.StreamServerInterceptor(slogAdapter(cfg.Logger), logOptions...),
		recovery.StreamServerInterceptor(recovery.WithRecoveryHandler(s.recovered)),
		s.streamStarted,
	}
	if peer && s.secret != "" {
		unary, stream = append(unary, s.secret.unary), append(stream, s.secret.stream)
	}
	if peer {
		unary, stream = append(unary, s.membersOnlyUnary), append(stream, s.membersOnlyStream)
	}
	if peer {
		unary, stream = append(unary, markPeerUnary), append(stream, markPeerStream)
	} else {
		// NB: quotas after authorization: a request denied costs nothing.
		authUnary, authorizeUnary, authStream, authorizeStream := s.guard.interceptors()
		quotaUnary, quotaStream := s.quotas.interceptors(s.stopping)
		unary, stream = append(unary, authUnary, authorizeUnary, quotaUnary), append(stream, authStream, authorizeStream, quotaStream)
	}
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(newServerCodec(requestLimits{bytes: cfg.MaxRequestBytes, records: cfg.MaxRequestRecords})),
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.MaxSendMsgSize(maxMessageBytes),
		// Per connection: the streams a client may open, and the pings
		// that find a client gone (see Config). NB: pings are permitted
		// without a call open, as long as they are not too frequent, so
		// that a client keeping an idle connection alive is not cut off.
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		// NB: the connection's window only paces the wire (gRPC credits it
		// on arrival); 16 MiB, the ceiling its window growth would reach.
		grpc.StaticStreamWindowSize(cfg.StreamWindowBytes),
		grpc.StaticConnWindowSize(16 << 20),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: cfg.MaxConnectionIdle,
			Time:              cfg.KeepaliveTime,
			Timeout:           cfg.KeepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             cfg.KeepaliveMinTime,
			PermitWithoutStream: true,
		}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}
	creds := s.tls.clientCreds()
	if peer {
		creds = s.tls.peerCreds()
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	return grpc.NewServer(opts...)
}

// Addr is the client gRPC listener's address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// PeerAddr is the peer gRPC listener's address.
func (s *Server) PeerAddr() net.Addr { return s.peerListener.Addr() }

// HTTPAddr is the HTTP listener's address.
func (s *Server) HTTPAddr() net.Addr { return s.httpListener.Addr() }

// Serve answers on both listeners until Shutdown; it returns nil after a
// clean shutdown.
func (s *Server) Serve() error {
	errs := make(chan error, 3)
	go func() { errs <- <-s.grpcDone }()
	go func() { errs <- <-s.grpcDone }()
	go func() {
		serve := s.http.Serve
		if s.http.TLSConfig != nil {
			// NB: the certificate comes from TLSConfig, per handshake.
			serve = func(l net.Listener) error { return s.http.ServeTLS(l, "", "") }
		}
		if err := serve(s.httpListener); !errors.Is(err, http.ErrServerClosed) {
			errs <- err
			return
		}
		errs <- nil
	}()
	s.logger.Info("runnel serving", "grpc", s.Addr().String(), "http", s.HTTPAddr().String(),
		"peer", s.PeerAddr().String(), "tls", s.tlsMode(), "data_dir", s.cfg.DataDir, "cluster_id", s.broker.ClusterID(),
		"version", buildinfo.Read().String())
	s.readyMu.Lock()
	var err error
	if !s.readyGone {
		// NB: under readyMu, against a Shutdown that already removed the
		// file: it is written only while the broker serves.
		err = writeReadyFile(s.cfg.ReadyFile, s.readyInfo())
	}
	s.readyMu.Unlock()
	if err != nil {
		// NB: a broker nobody knows is ready is of no use to whoever
		// asked for the file: stop rather than serve unseen.
		s.logger.Error("ready file", "err", err)
		s.Shutdown(context.Background())
		return errors.Join(err, <-errs, <-errs, <-errs)
	}
	first := <-errs
	if first != nil && s.stopping.Err() == nil {
		s.Shutdown(context.Background())
	}
	return errors.Join(first, <-errs, <-errs)
}

// Shutdown hands the leaderships of this broker to other brokers, stops
// taking calls, ends following subscriptions, waits up to ShutdownTimeout
// for calls in flight, then closes every partition (their data is already
// durable; this persists raft state).
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.health.Shutdown()
		// NB: first, with the health checks: from here on it no longer
		// takes calls (and Serve, coming after, writes no file).
		s.readyMu.Lock()
		s.readyGone = true
		err := removeReadyFile(s.cfg.ReadyFile)
		s.readyMu.Unlock()
		if err != nil {
			s.logger.Warn("shutdown: ready file", "err", err)
		}
		ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
		// NB: while still serving: the transfers need the raft transport.
		handOff, handedOff := context.WithTimeout(ctx, s.cfg.ShutdownTimeout/2)
		s.broker.HandOffLeadership(handOff)
		handedOff()
		s.stop()
		// NB: the acks in flight need the other brokers: detach only once
		// the produce streams delivered them (or time ran out).
		if err := s.produce.drain(ctx); err != nil {
			s.logger.Warn("shutdown: produce streams still waiting for acks", "err", err)
		}
		// NB: stop talking to the other brokers before the servers stop,
		// which then need not wait for them.
		s.raft.Close()
		done := make(chan struct{})
		go func() {
			var wg sync.WaitGroup
			wg.Go(s.grpc.GracefulStop)
			wg.Go(s.peerGRPC.GracefulStop)
			wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.logger.Warn("shutdown timed out; cancelling calls in flight")
			s.grpc.Stop()
			s.peerGRPC.Stop()
			<-done
		}
		s.peers.Close()
		httpErr := s.http.Shutdown(ctx)
		s.shutdownErr = errors.Join(httpErr, s.broker.Close())
		s.logger.Info("runnel stopped")
	})
	return s.shutdownErr
}

func (s *Server) setServing(st healthpb.HealthCheckResponse_ServingStatus) {
	for _, srv := range []*grpc.Server{s.grpc, s.peerGRPC} {
		for name := range srv.GetServiceInfo() {
			s.health.SetServingStatus(name, st)
		}
	}
	s.health.SetServingStatus("", st)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.stopping.Err() != nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *Server) recovered(p any) error {
	s.logger.Error("panic in handler", "panic", p)
	return toStatus(fmt.Errorf("internal error: %v", p))
}
