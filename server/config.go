package server

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/broker"
)

// Config configures a Server. Zero values take the defaults of
// DefaultConfig.
type Config struct {
	// DataDir holds the partitions' data.
	DataDir string
	// Listen is the gRPC address clients call; HTTPListen serves
	// /metrics and /healthz.
	Listen     string
	HTTPListen string
	// PeerListen is the gRPC address the other brokers call: the raft
	// transport, joining, and the calls one broker forwards to another.
	// Clients are not served there, and the raft transport is not
	// served to clients: keep it on a network only brokers reach.
	// Default 127.0.0.1:7402.
	PeerListen string
	// Listener, PeerListener and HTTPListener, when set, are the client,
	// peer and HTTP listeners already bound, used instead of binding
	// Listen, PeerListen and HTTPListen: a test binds them first and knows
	// the addresses before the server starts (every broker's peer address,
	// say), without a port chosen, closed and bound again, which another
	// process may take in between. The server closes them, also when New
	// fails.
	Listener, PeerListener, HTTPListener net.Listener
	// TLSCertFile and TLSKeyFile, when set (both or neither), are the PEM
	// certificate (chain) and private key of the broker: every listener
	// serves TLS with them (the client gRPC listener, HTTP, and the peer
	// listener), and the broker presents them to the brokers it dials.
	// The files are read again when they change (rotation without a
	// restart; see internal/tlsfiles), TLS 1.2 at least.
	TLSCertFile, TLSKeyFile string
	// TLSClientCAFile, when set, is a PEM bundle of the CAs that sign
	// client certificates: the client gRPC and HTTP listeners then require
	// a client certificate and verify it against the bundle (mTLS).
	// Re-read when it changes. Needs TLSCertFile.
	TLSClientCAFile string
	// TLSPeerCAFile is the PEM bundle the brokers' certificates are
	// verified against, both ways: the peer listener requires the dialling
	// broker's certificate, and a broker verifies the one it dials.
	// Default TLSClientCAFile; with neither, the peer listener asks for no
	// certificate and the brokers verify each other against the system's
	// roots. Needs TLSCertFile.
	TLSPeerCAFile string
	// ReadyFile, when set, is the path Serve writes the bound addresses to
	// as JSON once the broker serves, and Shutdown removes (see
	// ReadyInfo): what a test or a readiness probe waits for, instead of a
	// log line.
	ReadyFile string
	// NodeID is this broker's id in the cluster.
	NodeID int32
	// Peers lists the brokers of the initial cluster, this one included:
	// node id to the peer address the others reach it on (see
	// ParsePeers). Empty: a single broker.
	Peers map[int32]string
	// Advertise is the gRPC address clients reach this broker on, when it
	// is not Listen's (which may be 0.0.0.0:PORT): a DNS name, say. The
	// broker registers it with the cluster; leader hints and
	// DescribeCluster report it. Default: Listen's address once bound.
	Advertise string
	// AdvertisePeer is the address the other brokers reach this one on,
	// when it is not PeerListen's: a broker joining registers it; in a
	// static cluster, Peers says it. Default: PeerListen's address once
	// bound.
	AdvertisePeer string
	// Join is the peer address of a broker of a running cluster to join
	// (any one: it registers this broker with the cluster). It is kept on
	// every restart; joining again at the same address changes nothing.
	// Exclusive with Peers.
	Join string
	// RetentionCheckInterval is how often partitions delete old segments.
	RetentionCheckInterval time.Duration
	// GroupSessionTimeout is how long a consumer group member whose
	// stream broke keeps its partitions, waiting to re-attach, as Kafka's
	// group.consumer.session.timeout.ms. Default 45 s.
	GroupSessionTimeout time.Duration
	// GroupRebalanceTimeout is how long a member has to finish with a
	// partition the group takes from it (commit, or stop) before it moves
	// anyway and the member is removed. Default 30 s.
	GroupRebalanceTimeout time.Duration
	// ProducerIDExpiration is how long an idempotent producer may be idle
	// before its partitions forget it, as Kafka's producer.id.expiration.ms:
	// its retries after that are not recognized as such. Brokers of a
	// cluster should agree on it. Default 24 h.
	ProducerIDExpiration time.Duration
	// GroupAssignor is the server-side assignor of the groups this broker
	// coordinates, as Kafka's group.consumer.assignors: "uniform" (the
	// default: balanced, moving the fewest partitions) or "range" (each
	// member a contiguous range of every topic, so co-partitioned topics
	// line up).
	GroupAssignor string
	// InternalSnapshotEntries is how many entries the internal topics
	// apply between snapshots of their state, behind which their logs are
	// deleted (broker.Config.InternalSnapshotEntries). 0: 10,000;
	// negative: never, and their logs are replayed whole on every start.
	InternalSnapshotEntries int
	// MaxRequestBytes bounds an encoded ProduceRequest, like Kafka's
	// max.request.size: a larger one is answered INVALID_ARGUMENT without
	// being parsed, and the stream stays open. Default 16 MiB, at most
	// MaxRequestBytesLimit. (A message over 64 MiB, the gRPC limit, ends
	// the stream with RESOURCE_EXHAUSTED from gRPC itself.)
	MaxRequestBytes int
	// MaxRequestRecords bounds the records of one ProduceRequest, counted
	// before any is parsed: each costs the broker about 200 bytes of
	// memory however small it is. Default 100000, at most 1000000.
	MaxRequestRecords int
	// MaxInflightBytes is the broker-wide memory budget for the streams it
	// serves, like Kafka's queued.max.request.bytes: the bytes of every
	// produce request from receipt until its ack is known, and of every
	// subscribe response from the read that builds it until gRPC took it.
	// Once it is spent, produce streams stop reading requests and
	// subscriptions stop reading the log until bytes free: gRPC flow
	// control pushes back on the clients, nothing fails. Default 256 MiB,
	// at least 1 MiB.
	MaxInflightBytes int64
	// MaxStreamInflightBytes is the most of MaxInflightBytes one stream
	// holds at once, so that one slow stream cannot hold the whole budget:
	// a produce stream's unacknowledged requests, a subscription's
	// responses not yet sent (a subscription holds at most two responses
	// of its max_batch_bytes, whatever this says). A request larger than
	// it proceeds alone on its stream. Default 32 MiB, at least 64 KiB and
	// at most MaxInflightBytes.
	MaxStreamInflightBytes int64
	// MaxConcurrentStreams bounds the calls one client connection has open
	// at once (gRPC's MaxConcurrentStreams; a client opening more waits
	// for one to end). Default 1024.
	MaxConcurrentStreams uint32
	// StreamWindowBytes is each call's HTTP/2 flow-control window: what
	// gRPC reads of a stream ahead of its handler, outside the memory
	// budget (gRPC acknowledges a connection's data as it arrives, so only
	// the streams' windows bound what it buffers). Fixed, as a
	// memory-bound server sets it: gRPC's window growth (BDP estimation)
	// would let each stream buffer up to 16 MiB. A stream moves at most a
	// window per round trip: 1 MiB is 2 GB/s at 0.5 ms, 20 MB/s at 50 ms.
	// Default 1 MiB, at least 64 KiB and at most 16 MiB.
	StreamWindowBytes int32
	// KeepaliveTime is how long a connection may be silent before the
	// broker pings it, and KeepaliveTimeout how long it then waits for the
	// answer before closing it: a client that vanished (a network cut, a
	// killed host) frees its streams and their budget within their sum.
	// Defaults 1 minute and 20 seconds.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// KeepaliveMinTime is the shortest interval at which a client may ping
	// (with or without calls open); a client pinging more often is
	// disconnected (GOAWAY too_many_pings). Default 10 seconds.
	KeepaliveMinTime time.Duration
	// MaxConnectionIdle closes a connection that has had no call open for
	// this long, like Kafka's connections.max.idle.ms (clients reconnect
	// on their next call). Default 10 minutes.
	MaxConnectionIdle time.Duration
	// ShutdownTimeout bounds how long Shutdown waits for calls in flight.
	ShutdownTimeout time.Duration
	// TokenFile is the static bearer tokens (package tokens' format),
	// read again when it changes: with one, calls must carry a token it
	// lists, unless AllowAnonymous. Without, every client is Anonymous.
	TokenFile string
	// JWKSFile, when set, is an identity provider's key set (JWKS), read
	// again when it changes; or JWKSURL is where the provider publishes
	// it (its jwks_uri, https), fetched again every JWKSRefresh (default
	// an hour) and when a token names a key it lacks. A bearer token that
	// is a JWT the set verifies, from JWTIssuer for JWTAudience (either
	// empty: not checked), authenticates "User:" + its JWTPrincipalClaim
	// (default sub). JWKSCAFile is the CAs JWKSURL's server is verified
	// against (empty: the system's).
	JWKSFile, JWKSURL      string
	JWKSCAFile             string
	JWKSRefresh            time.Duration
	JWTIssuer, JWTAudience string
	JWTPrincipalClaim      string
	// AllowAnonymous lets clients with no credentials in as Anonymous
	// when a TokenFile, a JWKSFile or a JWKSURL is set.
	AllowAnonymous bool
	// Authorization enforces the cluster's ACLs (AdminService.CreateAcls)
	// on the client listener: a request no ACL allows is PERMISSION_DENIED.
	// Off, every client may do everything.
	Authorization bool
	// TLSPrincipal is what names the principal of a verified client
	// certificate: "cn" (its common name, the default), "subject" (its
	// whole subject, CN=alice,O=acme), or its first "san-dns", "san-uri"
	// (a SPIFFE id, say) or "san-email"; the principal is "User:" and it.
	TLSPrincipal string
	// TLSPrincipalRules map that name to the principal's, in Kafka's
	// ssl.principal.mapping.rules syntax (package certname): comma-
	// separated RULE:PATTERN/REPLACEMENT/[LU] and DEFAULT, the first that
	// matches wins; a certificate none matches is UNAUTHENTICATED.
	// Empty: DEFAULT, the name as it is.
	TLSPrincipalRules string
	// ClusterSecretFile holds the secret every broker of the cluster
	// shares: the peer listener then takes only calls that carry it, so
	// that a client reaching it cannot send raft messages, join, or forge
	// a forwarded call. Empty: the peer listener trusts whoever reaches
	// it (keep it on a network only brokers reach).
	ClusterSecretFile string
	// MaxStreamsPerPrincipal bounds the streams (Produce, Subscribe) one
	// principal has open on this broker at once, over all its
	// connections; past it a stream is RESOURCE_EXHAUSTED. 0: no bound
	// (without authentication every client is one principal).
	MaxStreamsPerPrincipal int
	// Superusers are principals the ACLs never deny (to bootstrap them).
	Superusers []string
	Logger     *slog.Logger
}

// Produce request limits: defaults, and the most a Config may set. However
// they are set, no request can make a stored batch larger than
// raftstore.MaxEntryBytes (32 MiB + 64 KiB), the largest entry replication
// carries: the broker refuses it (a record without a timestamp grows by
// the broker's, up to 15 bytes).
const (
	DefaultMaxRequestBytes   = 16 << 20
	MaxRequestBytesLimit     = raftstore.MaxEntryBytes
	DefaultMaxRequestRecords = 100_000
	MaxRequestRecordsLimit   = 1_000_000
)

// Memory and connection limits' defaults (see Config).
const (
	DefaultMaxInflightBytes       = 256 << 20
	DefaultMaxStreamInflightBytes = 32 << 20
	DefaultMaxConcurrentStreams   = 1024
	DefaultStreamWindowBytes      = 1 << 20
	DefaultKeepaliveTime          = time.Minute
	DefaultKeepaliveTimeout       = 20 * time.Second
	DefaultKeepaliveMinTime       = 10 * time.Second
	DefaultMaxConnectionIdle      = 10 * time.Minute
)

// DefaultConfig is the single-node sidecar default.
func DefaultConfig() Config {
	return Config{
		DataDir:                "./data",
		Listen:                 "127.0.0.1:7400",
		HTTPListen:             "127.0.0.1:7401",
		PeerListen:             "127.0.0.1:7402",
		NodeID:                 1,
		RetentionCheckInterval: time.Minute,
		GroupSessionTimeout:    broker.DefaultGroupSessionTimeout,
		GroupRebalanceTimeout:  broker.DefaultGroupRebalanceTimeout,
		ProducerIDExpiration:   raftstore.DefaultProducerExpiry,
		MaxRequestBytes:        DefaultMaxRequestBytes,
		MaxRequestRecords:      DefaultMaxRequestRecords,
		MaxInflightBytes:       DefaultMaxInflightBytes,
		MaxStreamInflightBytes: DefaultMaxStreamInflightBytes,
		MaxConcurrentStreams:   DefaultMaxConcurrentStreams,
		StreamWindowBytes:      DefaultStreamWindowBytes,
		KeepaliveTime:          DefaultKeepaliveTime,
		KeepaliveTimeout:       DefaultKeepaliveTimeout,
		KeepaliveMinTime:       DefaultKeepaliveMinTime,
		MaxConnectionIdle:      DefaultMaxConnectionIdle,
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
	if c.PeerListen == "" {
		c.PeerListen = d.PeerListen
	}
	if c.NodeID == 0 {
		c.NodeID = d.NodeID
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = d.RetentionCheckInterval
	}
	if c.GroupSessionTimeout == 0 {
		c.GroupSessionTimeout = d.GroupSessionTimeout
	}
	if c.GroupRebalanceTimeout == 0 {
		c.GroupRebalanceTimeout = d.GroupRebalanceTimeout
	}
	if c.ProducerIDExpiration == 0 {
		c.ProducerIDExpiration = d.ProducerIDExpiration
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = d.MaxRequestBytes
	}
	if c.MaxRequestRecords == 0 {
		c.MaxRequestRecords = d.MaxRequestRecords
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = d.MaxInflightBytes
	}
	if c.MaxStreamInflightBytes == 0 {
		c.MaxStreamInflightBytes = min(d.MaxStreamInflightBytes, c.MaxInflightBytes)
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = d.MaxConcurrentStreams
	}
	if c.StreamWindowBytes == 0 {
		c.StreamWindowBytes = d.StreamWindowBytes
	}
	if c.KeepaliveTime == 0 {
		c.KeepaliveTime = d.KeepaliveTime
	}
	if c.KeepaliveTimeout == 0 {
		c.KeepaliveTimeout = d.KeepaliveTimeout
	}
	if c.KeepaliveMinTime == 0 {
		c.KeepaliveMinTime = d.KeepaliveMinTime
	}
	if c.MaxConnectionIdle == 0 {
		c.MaxConnectionIdle = d.MaxConnectionIdle
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
	if _, _, err := net.SplitHostPort(c.PeerListen); err != nil {
		errs = append(errs, fmt.Errorf("peer listen address %q: %w", c.PeerListen, err))
	}
	if c.NodeID < 0 {
		errs = append(errs, fmt.Errorf("node id %d: must be positive", c.NodeID))
	}
	if _, ok := c.Peers[c.NodeID]; len(c.Peers) > 0 && !ok {
		errs = append(errs, fmt.Errorf("node id %d is not among the peers (%s): add it, or set --node-id to one of them",
			c.NodeID, FormatPeers(c.Peers)))
	}
	for id, addr := range c.Peers {
		if id <= 0 {
			errs = append(errs, fmt.Errorf("peer id %d: node ids are positive", id))
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("peer %d address %q: %w", id, addr, err))
		}
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("advertised address %q: %w", c.Advertise, err))
		}
	}
	if c.AdvertisePeer != "" {
		if _, _, err := net.SplitHostPort(c.AdvertisePeer); err != nil {
			errs = append(errs, fmt.Errorf("advertised peer address %q: %w", c.AdvertisePeer, err))
		}
		if addr, ok := c.Peers[c.NodeID]; ok && addr != c.AdvertisePeer {
			errs = append(errs, fmt.Errorf("advertised peer address %q is not this broker's address in the peers, %q: drop one", c.AdvertisePeer, addr))
		}
	}
	if len(c.Peers) > 0 || c.Join != "" {
		if host, _, err := net.SplitHostPort(c.Listen); err == nil && c.Advertise == "" && unspecifiedHost(host) {
			errs = append(errs, fmt.Errorf("listen address %q is no address clients can reach this broker on: set the advertised address (--advertise HOST:PORT)", c.Listen))
		}
	}
	if c.Join != "" {
		if host, _, err := net.SplitHostPort(c.PeerListen); err == nil && c.AdvertisePeer == "" && unspecifiedHost(host) {
			errs = append(errs, fmt.Errorf("peer listen address %q is no address the cluster can reach this broker on: set the advertised peer address (--advertise-peer HOST:PORT)", c.PeerListen))
		}
		if len(c.Peers) > 0 {
			errs = append(errs, errors.New("--join and --peers: a broker starts a cluster with --peers or joins a running one, not both"))
		}
		if _, _, err := net.SplitHostPort(c.Join); err != nil {
			errs = append(errs, fmt.Errorf("join address %q: %w", c.Join, err))
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together: give both, the certificate and its private key"))
	}
	if c.TLSCertFile == "" && c.TLSClientCAFile != "" {
		errs = append(errs, errors.New("--tls-client-ca needs --tls-cert and --tls-key: client certificates are verified over TLS"))
	}
	if c.JWKSFile != "" && c.JWKSURL != "" {
		errs = append(errs, errors.New("--jwt-jwks-file and --jwt-jwks-url: give the key set one way"))
	}
	if c.JWKSURL == "" && (c.JWKSCAFile != "" || c.JWKSRefresh != 0) {
		errs = append(errs, errors.New("--jwt-jwks-ca and --jwt-jwks-refresh are for --jwt-jwks-url"))
	}
	if c.JWKSRefresh != 0 && c.JWKSRefresh < time.Second {
		errs = append(errs, fmt.Errorf("--jwt-jwks-refresh %v: want 1s or more (the default is 1h)", c.JWKSRefresh))
	}
	if c.TLSCertFile == "" && c.TLSPeerCAFile != "" {
		errs = append(errs, errors.New("--tls-peer-ca needs --tls-cert and --tls-key: the brokers' certificates are verified over TLS"))
	}
	if c.MaxRequestBytes < 1<<10 || c.MaxRequestBytes > MaxRequestBytesLimit {
		errs = append(errs, fmt.Errorf("max request bytes %d: want 1024 to %d", c.MaxRequestBytes, MaxRequestBytesLimit))
	}
	if c.MaxRequestRecords < 1 || c.MaxRequestRecords > MaxRequestRecordsLimit {
		errs = append(errs, fmt.Errorf("max request records %d: want 1 to %d", c.MaxRequestRecords, MaxRequestRecordsLimit))
	}
	if c.MaxInflightBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("max inflight bytes %d: want at least 1 MiB (1048576)", c.MaxInflightBytes))
	}
	if c.MaxStreamInflightBytes < 64<<10 || c.MaxStreamInflightBytes > c.MaxInflightBytes {
		errs = append(errs, fmt.Errorf("max stream inflight bytes %d: want 65536 to the max inflight bytes, %d", c.MaxStreamInflightBytes, c.MaxInflightBytes))
	}
	if c.StreamWindowBytes < 64<<10 || c.StreamWindowBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("stream window bytes %d: want 65536 to 16777216", c.StreamWindowBytes))
	}
	if c.RetentionCheckInterval < 0 || c.ShutdownTimeout < 0 || c.KeepaliveTime < 0 || c.KeepaliveTimeout < 0 ||
		c.KeepaliveMinTime < 0 || c.MaxConnectionIdle < 0 || c.GroupSessionTimeout < 0 || c.GroupRebalanceTimeout < 0 ||
		c.ProducerIDExpiration < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	return errors.Join(errs...)
}

// unspecifiedHost reports whether a listen host means every interface.
func unspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// ParsePeers parses a static cluster as etcd's --initial-cluster spells
// it: "1=10.0.0.1:7400,2=10.0.0.2:7400,3=10.0.0.3:7400".
func ParsePeers(s string) (map[int32]string, error) {
	peers := map[int32]string{}
	if strings.TrimSpace(s) == "" {
		return peers, nil
	}
	for _, part := range strings.Split(s, ",") {
		idText, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || addr == "" {
			return nil, fmt.Errorf("peer %q: want ID=HOST:PORT", part)
		}
		id, err := strconv.ParseInt(idText, 10, 32)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("peer %q: the id must be a positive integer", part)
		}
		if _, dup := peers[int32(id)]; dup {
			return nil, fmt.Errorf("peer id %d appears twice", id)
		}
		peers[int32(id)] = addr
	}
	return peers, nil
}

// FormatPeers is the inverse of ParsePeers.
func FormatPeers(peers map[int32]string) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(peers)) {
		parts = append(parts, fmt.Sprintf("%d=%s", id, peers[id]))
	}
	return strings.Join(parts, ",")
}
