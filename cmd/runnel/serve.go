package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/runnel-broker/runnel/server"
)

func newServeCommand() *cobra.Command {
	cfg := server.DefaultConfig()
	var logLevel slog.Level
	logFormat := logFormatText
	var podIndex int
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a broker. Every flag can also be set with an environment variable:
--data-dir with RUNNEL_DATA_DIR, --listen with RUNNEL_LISTEN, and so on.
SIGTERM or SIGINT shuts it down gracefully.

Clients call --listen; the other brokers call --peer-listen (the raft
transport, joining, forwarded calls), which serves no client: keep it on
a network only brokers reach.

With no --peers the broker is a single node. A cluster lists every broker
on each of them by its peer address, with the same --peers, like etcd's
--initial-cluster:

  runnel serve --node-id 1 --data-dir d1 \
    --listen 127.0.0.1:7400 --http-listen 127.0.0.1:7401 --peer-listen 127.0.0.1:7402 \
    --peers 1=127.0.0.1:7402,2=127.0.0.1:7412,3=127.0.0.1:7422

A broker of a cluster starts serving clients once a quorum of brokers is up.
A broker whose data directory was lost rejoins: its replicas catch up from
the others and take no part in elections until they have.

A new broker joins a running cluster through any of its brokers' peer
address, keeping --join on every restart:

  runnel serve --node-id 4 --data-dir d4 \
    --listen 127.0.0.1:7430 --http-listen 127.0.0.1:7431 --peer-listen 127.0.0.1:7432 \
    --join 127.0.0.1:7402

With --ready-file PATH the broker writes its bound addresses to PATH once
it serves (with 127.0.0.1:0, the ports the kernel chose), for a test or a
readiness probe to wait for; see --help of the flag for the format.

Socket activation: a parent (systemd, or a test) that binds the listeners
itself passes them as systemd does, as fds 3 on with LISTEN_FDS=N,
LISTEN_PID=<the broker's pid> and LISTEN_FDNAMES naming each one grpc
(--listen), http (--http-listen) or peer (--peer-listen); a socket passed
overrides its flag, and any other name is an error. In a systemd unit:
FileDescriptorName=grpc (and so on) in each .socket file's [Socket]. The
sockets outlive the broker: connections made while it restarts wait for
it rather than fail.

In a Kubernetes StatefulSet, --pod-index (RUNNEL_POD_INDEX, from the
apps.kubernetes.io/pod-index label) sets the node id to the pod's index
+ 1; given --peers and --join both, the pods the peers list start the
cluster and the others join it, so one pod template serves them all.

Listening on 0.0.0.0, set --advertise (clients) and --advertise-peer
(brokers) to the addresses the others dial.

TLS: --tls-cert and --tls-key (PEM files) secure every listener, the
client gRPC one, HTTP (/metrics, /healthz) and the peer one; the files
are read again when they change (checked at most once a second, on a
new connection), so a rotated certificate needs no restart, and a bad
one is ignored with a warning, the last good one kept. --tls-client-ca
requires client certificates signed by its CAs on the client and HTTP
listeners (mTLS). Brokers dial each other over TLS, presenting their own
certificate (so it must allow client as well as server authentication)
and verifying the other's against --tls-peer-ca, or --tls-client-ca
without it (with neither, the system's CAs). TLS 1.2 at least. See
docs/security.md.

It follows the cluster's metadata, gets replicas of new topics, and takes
partitions moved to it with "runnel partition reassign".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logFormat.logger(cmd.ErrOrStderr(), logLevel)
			if f := cmd.Flags(); f.Changed("pod-index") {
				if err := applyPodIndex(&cfg, podIndex, f.Changed("node-id")); err != nil {
					return err
				}
			}
			activated, err := activatedListeners(&cfg)
			if err != nil {
				return err
			}
			if len(activated) > 0 {
				cfg.Logger.Info("listening on passed sockets (socket activation)", "names", activated)
			}
			// NB: no timeout: in a cluster, starting waits for a quorum of
			// brokers, however long the operator takes to start them.
			srv, err := server.New(cmd.Context(), cfg)
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
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "gRPC listen address (a socket passed as grpc overrides it)")
	f.StringVar(&cfg.HTTPListen, "http-listen", cfg.HTTPListen, "HTTP listen address for /metrics and /healthz (a socket passed as http overrides it)")
	f.StringVar(&cfg.PeerListen, "peer-listen", cfg.PeerListen, "gRPC listen address for the other brokers (raft, joining, forwarded calls; a socket passed as peer overrides it)")
	f.Int32Var(&cfg.NodeID, "node-id", cfg.NodeID, "this broker's id")
	f.IntVar(&podIndex, "pod-index", 0, "a StatefulSet pod's index (apps.kubernetes.io/pod-index): sets --node-id to it + 1; with --peers and --join both, a broker the peers list starts with them and the others join")
	f.Var((*peersFlag)(&cfg.Peers), "peers", "the brokers of the cluster by peer address, this one included: ID=HOST:PORT,... (empty: a single node)")
	f.StringVar(&cfg.Advertise, "advertise", "", "the gRPC address clients reach this broker on (default: the --listen address)")
	f.StringVar(&cfg.AdvertisePeer, "advertise-peer", "", "the gRPC address the other brokers reach this one on (default: the --peer-listen address)")
	f.StringVar(&cfg.Join, "join", "", "join the running cluster through the broker whose peer address is HOST:PORT (instead of --peers)")
	f.DurationVar(&cfg.RetentionCheckInterval, "retention-check-interval", cfg.RetentionCheckInterval, "how often old segments are deleted")
	f.DurationVar(&cfg.ProducerIDExpiration, "producer-id-expiration", cfg.ProducerIDExpiration, "how long an idempotent producer may be idle before its partitions forget it (Kafka's producer.id.expiration.ms)")
	f.DurationVar(&cfg.GroupSessionTimeout, "group-session-timeout", cfg.GroupSessionTimeout, "how long a consumer group member whose stream broke keeps its partitions, waiting to come back")
	f.DurationVar(&cfg.GroupRebalanceTimeout, "group-rebalance-timeout", cfg.GroupRebalanceTimeout, "how long a group member has to commit a partition taken from it before the partition moves anyway")
	f.StringVar(&cfg.GroupAssignor, "group-assignor", "uniform", "how the groups this broker coordinates share partitions: uniform (balanced, fewest moves) or range (a contiguous range of each topic per member)")
	f.IntVar(&cfg.MaxRequestBytes, "max-request-bytes", cfg.MaxRequestBytes, "largest produce request taken, encoded (at most 33619968)")
	f.IntVar(&cfg.MaxRequestRecords, "max-request-records", cfg.MaxRequestRecords, "most records in one produce request (at most 1000000)")
	f.Int64Var(&cfg.MaxInflightBytes, "max-inflight-bytes", cfg.MaxInflightBytes, "memory budget for produce requests in flight and subscribe responses being sent, all streams together; past it streams wait (at least 1048576)")
	// NB: 0, not the default, so that a smaller --max-inflight-bytes alone
	// is valid: zero takes 32 MiB or the budget, whichever is smaller.
	f.Int64Var(&cfg.MaxStreamInflightBytes, "max-stream-inflight-bytes", 0, "most of the memory budget one stream holds, 65536 to --max-inflight-bytes (default 33554432, or --max-inflight-bytes if smaller)")
	f.Uint32Var(&cfg.MaxConcurrentStreams, "max-concurrent-streams", cfg.MaxConcurrentStreams, "most calls open at once on one client connection")
	f.Int32Var(&cfg.StreamWindowBytes, "stream-window-bytes", cfg.StreamWindowBytes, "each call's flow-control window: what the broker reads of a stream ahead of its handler (65536 to 16777216)")
	f.DurationVar(&cfg.KeepaliveTime, "keepalive-time", cfg.KeepaliveTime, "ping a connection silent this long")
	f.DurationVar(&cfg.KeepaliveTimeout, "keepalive-timeout", cfg.KeepaliveTimeout, "close a connection whose ping is not answered within this")
	f.DurationVar(&cfg.KeepaliveMinTime, "keepalive-min-time", cfg.KeepaliveMinTime, "disconnect a client that pings more often than this")
	f.DurationVar(&cfg.MaxConnectionIdle, "max-connection-idle", cfg.MaxConnectionIdle, "close a connection with no call open for this long")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM file of this broker's certificate (chain): serve TLS on every listener (client, HTTP, peer) and present it to the brokers it dials; reloaded when it changes; with --tls-key")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM file of the private key of --tls-cert; reloaded when it changes")
	f.StringVar(&cfg.TLSClientCAFile, "tls-client-ca", "", "PEM file of the CAs of client certificates: require one, signed by them, on the client and HTTP listeners (mTLS); reloaded when it changes")
	f.StringVar(&cfg.TLSPeerCAFile, "tls-peer-ca", "", "PEM file of the CAs of the brokers' certificates, verified on the peer listener and when dialling another broker (default: --tls-client-ca; with neither, the system's)")
	f.StringVar(&cfg.ClusterSecretFile, "cluster-secret-file", "", "a file holding the secret every broker of the cluster shares (openssl rand -hex 32): the peer listener then takes only calls that carry it, so that a client reaching it cannot send raft messages, join or forge a forwarded call")
	f.IntVar(&cfg.MaxStreamsPerPrincipal, "max-streams-per-principal", 0, "most streams (Produce, Subscribe) one principal has open on this broker at once, all its connections together; past it RESOURCE_EXHAUSTED (0: no bound)")
	f.StringVar(&cfg.TLSPrincipal, "tls-principal", "cn", "what names a client certificate's principal (User:<it>): cn, subject (CN=alice,O=acme), or its first san-dns, san-uri (a SPIFFE id) or san-email")
	f.StringVar(&cfg.TLSPrincipalRules, "tls-principal-rules", "", "rules that map --tls-principal's name to the principal's, as Kafka's ssl.principal.mapping.rules: RULE:PATTERN/REPLACEMENT/[LU],...,DEFAULT (the first that matches the whole name wins; none: refused)")
	f.StringVar(&cfg.TokenFile, "token-file", "", "static bearer tokens, one PRINCIPAL sha256:HASH a line (runnel token create prints one): calls must carry one of them, unless --allow-anonymous")
	f.StringVar(&cfg.JWKSFile, "jwt-jwks-file", "", "an identity provider's key set (JWKS, JSON): a bearer token that is a JWT it signed, current, from --jwt-issuer for --jwt-audience, authenticates User:<its --jwt-principal-claim>; re-read when it changes")
	f.StringVar(&cfg.JWKSURL, "jwt-jwks-url", "", "in place of --jwt-jwks-file, the identity provider's jwks_uri (https): fetched at start, every --jwt-jwks-refresh, and when a JWT names a key the set lacks (at most every 10s)")
	f.StringVar(&cfg.JWKSCAFile, "jwt-jwks-ca", "", "PEM bundle of the CAs --jwt-jwks-url's server is verified against (default: the system's)")
	f.DurationVar(&cfg.JWKSRefresh, "jwt-jwks-refresh", 0, "how often --jwt-jwks-url is fetched again (default 1h)")
	f.StringVar(&cfg.JWTIssuer, "jwt-issuer", "", "the iss a JWT must carry (empty: not checked)")
	f.StringVar(&cfg.JWTAudience, "jwt-audience", "", "an aud a JWT must carry (empty: not checked)")
	f.StringVar(&cfg.JWTPrincipalClaim, "jwt-principal-claim", "sub", "the JWT claim that names the principal")
	f.BoolVar(&cfg.AllowAnonymous, "allow-anonymous", false, "with --token-file, --jwt-jwks-file or --jwt-jwks-url, let calls without a token in as User:ANONYMOUS")
	f.BoolVar(&cfg.Authorization, "authorization", false, "enforce the cluster's ACLs (runnel acl): a request no ACL allows is PERMISSION_DENIED; off, every client may do everything")
	f.StringSliceVar(&cfg.Superusers, "superusers", nil, "principals the ACLs never deny, to create the first ones (User:admin,...)")
	f.StringVar(&cfg.ReadyFile, "ready-file", "", `once serving, write the bound addresses to this file as one JSON object, {"grpc":HOST:PORT,"peer":HOST:PORT,"http":HOST:PORT,"node_id":N,"cluster_id":ID,"version":V,"pid":N} (atomically: a reader sees all of it or no file); removed when a shutdown starts, and at start if an earlier run left it`)
	f.TextVar(&logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	f.Var(&logFormat, "log-format", "log format: text (key=value) or json (one object a line)")
	return cmd
}

// peersFlag is --peers: a static cluster, 1=HOST:PORT,2=HOST:PORT,...
type peersFlag map[int32]string

func (f *peersFlag) String() string { return server.FormatPeers(*f) }

func (f *peersFlag) Set(s string) error {
	peers, err := server.ParsePeers(s)
	if err != nil {
		return err
	}
	*f = peers
	return nil
}

func (f *peersFlag) Type() string { return "peers" }

// logFormatFlag is --log-format: how the broker writes its log to stderr.
type logFormatFlag string

const (
	logFormatText logFormatFlag = "text"
	logFormatJSON logFormatFlag = "json"
)

func (f *logFormatFlag) String() string { return string(*f) }

func (f *logFormatFlag) Set(s string) error {
	switch v := logFormatFlag(s); v {
	case logFormatText, logFormatJSON:
		*f = v
		return nil
	}
	return errors.New("use text (key=value lines) or json (one JSON object a line)")
}

func (f *logFormatFlag) Type() string { return "text|json" }

// logger returns a logger writing to w in this format from level up.
func (f logFormatFlag) logger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f == logFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
