package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/redial"
)

// DefaultAddress is where a broker listens by default.
const DefaultAddress = "127.0.0.1:7400"

// maxMessageBytes matches the broker's limit, so that a subscription can
// receive any record the broker accepts.
const maxMessageBytes = 64 << 20

// Client is a connection to a Runnel cluster. It keeps one gRPC
// connection per broker, and what it learned of the cluster: the brokers'
// addresses and, per topic, the partitions and their leaders.
//
// The exported stubs call the broker the client bootstrapped from (any
// broker answers any call, forwarding what another broker leads); the
// Producer sends each partition's records to its leader directly.
type Client struct {
	conn *grpc.ClientConn // the bootstrap broker's

	Admin     runnelv1.AdminServiceClient
	Produce   runnelv1.ProduceServiceClient
	Subscribe runnelv1.SubscribeServiceClient
	Commit    runnelv1.CommitServiceClient

	opts      options
	bootstrap []string

	mu     sync.Mutex
	closed bool
	conns  map[string]*grpc.ClientConn // by address, the bootstrap's included
	nodes  map[int32]string            // node id → client address
	topics map[string]*topicMeta
	// refreshing serializes metadata calls per topic, so that a burst of
	// failures asks the cluster once.
	refreshing map[string]*sync.Mutex
}

// topicMeta is one topic's partitions as a DescribeTopic answered.
type topicMeta struct {
	partitions []partitionMeta
	fetched    time.Time
}

type partitionMeta struct {
	leader int32  // 0: none at the time
	addr   string // the leader's client address, "" when unknown
	epoch  uint64
}

// Dial connects to the broker at address (host:port). Connecting is lazy:
// errors surface on the first call. The client learns the rest of the
// cluster from that broker when it needs to, as New's does.
func Dial(address string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	c := &Client{opts: o, bootstrap: []string{address}, conns: map[string]*grpc.ClientConn{}, nodes: map[int32]string{},
		topics: map[string]*topicMeta{}, refreshing: map[string]*sync.Mutex{}}
	conn, err := c.dial(address)
	if err != nil {
		return nil, err
	}
	c.conns[address] = conn
	c.use(conn)
	return c, nil
}

// New connects to a cluster through any of brokers (host:port each): it
// asks them in turn for the cluster's brokers (DescribeCluster) and keeps
// the first that answers as the bootstrap broker. One address is enough:
// a broker forwards what it does not lead, and the client learns the
// others' addresses from it.
//
// While no broker answers, and one says why in a way worth waiting
// through (down, starting and waiting for a quorum, busy), New asks them
// again with backoff, as a Kafka client does while its bootstrap servers
// come up, until ctx is done or the request timeout (WithRequestTimeout)
// has passed. A refused credential fails it at once; so does a TLS
// handshake refused on a certificate (either side's) by every broker.
func New(ctx context.Context, brokers []string, opts ...Option) (*Client, error) {
	if len(brokers) == 0 {
		return nil, errors.New("client.New: no broker addresses")
	}
	c, err := Dial(brokers[0], opts...)
	if err != nil {
		return nil, err
	}
	c.bootstrap = append([]string(nil), brokers...)
	ctx, cancel := context.WithTimeout(ctx, c.opts.requestTimeout)
	defer cancel()
	for b := newBackoff(); ; {
		var errs []error
		waitable := false // some broker may answer later
		for _, addr := range brokers {
			conn, err := c.connTo(addr)
			if err == nil {
				err = c.describeCluster(ctx, conn)
			}
			if err == nil {
				c.use(conn)
				return c, nil
			}
			if code := status.Code(err); code == codes.Unauthenticated || code == codes.PermissionDenied {
				// NB: the cluster's answer, which another broker, or this
				// one later, would give too.
				c.Close()
				return nil, fmt.Errorf("client.New: %s: %w", addr, err)
			}
			// NB: a TLS refusal is this broker's (brokers have certificates
			// of their own): the others are asked, but it is not waited for.
			waitable = waitable || retriableCall(err) && !refusedByTLS(err)
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			if ctx.Err() != nil {
				break
			}
		}
		if !waitable || ctx.Err() != nil || !b.wait(ctx) {
			c.Close()
			return nil, fmt.Errorf("client.New: no broker answered: %w", errors.Join(errs...))
		}
		c.opts.logger.Info("client: no broker answered yet, asking again", "brokers", brokers, "err", errors.Join(errs...))
	}
}

// refusedByTLS says whether err is a TLS handshake that failed on a
// certificate, either side's (none sent where one is required, one of
// another CA, a name it does not hold), or on TLS spoken to a plaintext
// listener: settings to fix, which no retry mends, as Kafka clients do
// not retry an SslAuthenticationException. gRPC reports them as
// UNAVAILABLE with the TLS error's text only.
func refusedByTLS(err error) bool {
	if status.Code(err) != codes.Unavailable {
		return false
	}
	msg := status.Convert(err).Message()
	return strings.Contains(msg, "remote error: tls: ") || strings.Contains(msg, "x509: ") ||
		strings.Contains(msg, "tls: first record does not look like a TLS handshake")
}

func (c *Client) dial(address string) (*grpc.ClientConn, error) {
	creds := c.opts.creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds), redial.Option(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	}, c.opts.dialOptions...)
	return grpc.NewClient(address, dialOpts...)
}

// use makes conn the one the exported stubs call.
func (c *Client) use(conn *grpc.ClientConn) {
	c.conn = conn
	c.Admin = runnelv1.NewAdminServiceClient(conn)
	c.Produce = runnelv1.NewProduceServiceClient(conn)
	c.Subscribe = runnelv1.NewSubscribeServiceClient(conn)
	c.Commit = runnelv1.NewCommitServiceClient(conn)
}

// connTo returns the connection to address, made on first use. gRPC
// reconnects it by itself after a failure, so one per broker suffices.
func (c *Client) connTo(address string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if conn, ok := c.conns[address]; ok {
		return conn, nil
	}
	conn, err := c.dial(address)
	if err != nil {
		return nil, err
	}
	c.conns[address] = conn
	return conn, nil
}

// ErrClosed is returned for calls on a closed Client or Producer.
var ErrClosed = errors.New("client: closed")

func (c *Client) describeCluster(ctx context.Context, conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.requestTimeout)
	defer cancel()
	resp, err := runnelv1.NewAdminServiceClient(conn).DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range resp.Brokers {
		if b.Address != "" {
			c.nodes[b.NodeId] = b.Address
		}
	}
	return nil
}

// candidates are the connections metadata calls try, in order: the
// bootstrap broker's, then every other broker known, so that metadata
// survives the loss of the bootstrap broker.
func (c *Client) candidates() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var addrs []string
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	for a, conn := range c.conns {
		if conn == c.conn {
			add(a)
		}
	}
	for _, a := range c.bootstrap {
		add(a)
	}
	for _, a := range c.nodes {
		add(a)
	}
	return addrs
}

// topic returns what the client knows of a topic, asking the cluster when
// it knows nothing, when it is older than the metadata max age, or when
// stale is true (a request failed in a way that says it is).
func (c *Client) topic(ctx context.Context, name string, stale bool) (*topicMeta, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	t := c.topics[name]
	if t != nil && !stale && time.Since(t.fetched) < c.opts.metadataMaxAge {
		c.mu.Unlock()
		return t, nil
	}
	lock := c.refreshing[name]
	if lock == nil {
		lock = &sync.Mutex{}
		c.refreshing[name] = lock
	}
	c.mu.Unlock()

	lock.Lock()
	defer lock.Unlock()
	// NB: another caller may have refreshed it while this one waited.
	c.mu.Lock()
	if nt := c.topics[name]; nt != nil && nt != t && time.Since(nt.fetched) < c.opts.metadataMaxAge {
		c.mu.Unlock()
		return nt, nil
	}
	c.mu.Unlock()
	var errs []error
	for _, addr := range c.candidates() {
		t, err := c.describeTopic(ctx, addr, name)
		if err == nil {
			return t, nil
		}
		if code := status.Code(err); code == codes.NotFound || code == codes.InvalidArgument || ctx.Err() != nil {
			return nil, err // the same everywhere
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, fmt.Errorf("describe topic %q: %w", name, errors.Join(errs...))
}

func (c *Client) describeTopic(ctx context.Context, addr, name string) (*topicMeta, error) {
	conn, err := c.connTo(addr)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.opts.requestTimeout)
	defer cancel()
	resp, err := runnelv1.NewAdminServiceClient(conn).DescribeTopic(rctx, &runnelv1.DescribeTopicRequest{Name: name})
	if err != nil {
		return nil, err
	}
	n := resp.GetTopic().GetPartitions()
	if n <= 0 || int(n) != len(resp.Partitions) {
		return nil, status.Errorf(codes.Unavailable, "topic %q: %d partitions described of %d", name, len(resp.Partitions), n)
	}
	// NB: a leader this client has no address for is a broker that
	// joined since it last asked.
	missing := false
	c.mu.Lock()
	for _, p := range resp.Partitions {
		if _, ok := c.nodes[p.Leader]; p.Leader != 0 && !ok {
			missing = true
		}
	}
	c.mu.Unlock()
	if missing {
		if err := c.describeCluster(ctx, conn); err != nil {
			c.opts.logger.Warn("runnel client: describe cluster", "broker", addr, "err", err)
		}
	}
	t := &topicMeta{partitions: make([]partitionMeta, n), fetched: time.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range resp.Partitions {
		if p.Partition < 0 || p.Partition >= n {
			continue
		}
		t.partitions[p.Partition] = partitionMeta{leader: p.Leader, addr: c.nodes[p.Leader], epoch: p.LeaderEpoch}
	}
	c.topics[name] = t
	c.opts.logger.Debug("runnel client: topic metadata", "topic", name, "partitions", n, "from", addr)
	return t, nil
}

// Conn returns the bootstrap broker's connection, for other stubs
// (health).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes every connection. Close producers first: their records
// not yet acknowledged fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}
