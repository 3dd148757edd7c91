package peer

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/redial"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/wire"
)

// ForwardedHeader marks a call one broker makes to another: the receiver
// serves it itself or fails, never forwards it again. The server honours
// it only on its peer listener.
const ForwardedHeader = "runnel-forwarded"

// Timeouts of the calls that ask another broker what it knows: past them,
// the caller answers from what it knows itself.
const (
	describeTimeout = time.Second
	identifyTimeout = 2 * time.Second
)

// Pool holds this broker's connections to the others, by peer address,
// and one produce link to each.
type Pool struct {
	creds  credentials.TransportCredentials
	perRPC credentials.PerRPCCredentials
	mu     sync.Mutex // guards conns, links
	conns  map[string]*grpc.ClientConn
	links  map[string]*produceLink
}

// NewPool returns a pool with no connection yet, which dials with creds
// (nil: plaintext) and sends perRPC's metadata on every call (nil: none;
// the cluster's secret).
func NewPool(creds credentials.TransportCredentials, perRPC credentials.PerRPCCredentials) *Pool {
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	return &Pool{creds: creds, perRPC: perRPC, conns: map[string]*grpc.ClientConn{}, links: map[string]*produceLink{}}
}

// conn returns the connection to the broker at address, dialled on first
// use.
func (p *Pool) conn(address string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[address]; ok {
		return c, nil
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(p.creds), redial.Option(),
		// NB: the server's codec, so that records and stored batches pass
		// through as the bytes they are.
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(wire.NewCodec()),
			grpc.MaxCallRecvMsgSize(raftstore.MaxMessageBytes), grpc.MaxCallSendMsgSize(raftstore.MaxMessageBytes)),
		grpc.WithChainUnaryInterceptor(markUnary),
		grpc.WithChainStreamInterceptor(markStream)}
	if p.perRPC != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(p.perRPC))
	}
	c, err := grpc.NewClient(address, opts...)
	if err != nil {
		return nil, err
	}
	p.conns[address] = c
	return c, nil
}

func forwarded(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, ForwardedHeader, "1")
}

func markUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(forwarded(ctx), method, req, reply, cc, opts...)
}

func markStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(forwarded(ctx), desc, cc, method, opts...)
}

// Close ends the produce links (what waits on them fails UNAVAILABLE)
// and closes the connections.
func (p *Pool) Close() {
	p.mu.Lock()
	links, conns := p.links, p.conns
	p.links, p.conns = map[string]*produceLink{}, map[string]*grpc.ClientConn{}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	for _, c := range conns {
		c.Close()
	}
}

// Subscribe opens a Subscribe stream on the broker at address, to be read
// with RecvMsg into a wire.Message: responses come as the broker encoded
// them.
func (p *Pool) Subscribe(ctx context.Context, address string, req *runnelv1.SubscribeRequest) (runnelv1.SubscribeService_SubscribeClient, error) {
	c, err := p.conn(address)
	if err != nil {
		return nil, err
	}
	return runnelv1.NewSubscribeServiceClient(c).Subscribe(ctx, req)
}

// DescribeTopic asks the broker at address how it sees topic.
func (p *Pool) DescribeTopic(ctx context.Context, address, topic string) (*runnelv1.DescribeTopicResponse, error) {
	c, err := p.conn(address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	return runnelv1.NewAdminServiceClient(c).DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: topic})
}

// DescribeCluster asks the broker at address (the controller) how it
// sees the cluster.
func (p *Pool) DescribeCluster(ctx context.Context, address string, req *runnelv1.DescribeClusterRequest) (*runnelv1.DescribeClusterResponse, error) {
	c, err := p.conn(address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	return runnelv1.NewAdminServiceClient(c).DescribeCluster(ctx, req)
}

// Join registers this broker with the cluster through the broker at seed.
func (p *Pool) Join(ctx context.Context, seed string, req *raftv1.JoinRequest) (*raftv1.JoinResponse, error) {
	c, err := p.conn(seed)
	if err != nil {
		return nil, err
	}
	return raftv1.NewMembershipServiceClient(c).Join(ctx, req)
}

// Identify asks the broker at address which cluster its data directory
// belongs to.
func (p *Pool) Identify(ctx context.Context, address string, req *raftv1.IdentifyRequest) (*raftv1.IdentifyResponse, error) {
	c, err := p.conn(address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, identifyTimeout)
	defer cancel()
	return raftv1.NewMembershipServiceClient(c).Identify(ctx, req)
}

// Commit makes a group member's commit on the group's coordinator, which
// alone knows whether the member still holds the partitions. It keeps
// the caller's deadline: a commit waits for raft, not for an answer the
// coordinator has at hand.
func (p *Pool) Commit(ctx context.Context, address string, req *runnelv1.CommitRequest) (*runnelv1.CommitResponse, error) {
	c, err := p.conn(address)
	if err != nil {
		return nil, err
	}
	return runnelv1.NewCommitServiceClient(c).Commit(ctx, req)
}

// ListGroups asks the broker at address which groups it knows of.
func (p *Pool) ListGroups(ctx context.Context, address string) (*runnelv1.ListGroupsResponse, error) {
	c, err := p.conn(address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	return runnelv1.NewAdminServiceClient(c).ListGroups(ctx, &runnelv1.ListGroupsRequest{})
}

// DescribeGroup asks the group's coordinator at address to describe it.
func (p *Pool) DescribeGroup(ctx context.Context, address string, req *runnelv1.DescribeGroupRequest) (*runnelv1.DescribeGroupResponse, error) {
	c, err := p.conn(address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	return runnelv1.NewAdminServiceClient(c).DescribeGroup(ctx, req)
}

// DeleteGroup deletes a group on its coordinator at address, within the
// caller's deadline.
func (p *Pool) DeleteGroup(ctx context.Context, address string, req *runnelv1.DeleteGroupRequest) (*runnelv1.DeleteGroupResponse, error) {
	c, err := p.conn(address)
	if err != nil {
		return nil, err
	}
	return runnelv1.NewAdminServiceClient(c).DeleteGroup(ctx, req)
}

// ResetOffsets resets a group's offsets on its coordinator at address,
// within the caller's deadline.
func (p *Pool) ResetOffsets(ctx context.Context, address string, req *runnelv1.ResetOffsetsRequest) (*runnelv1.ResetOffsetsResponse, error) {
	c, err := p.conn(address)
	if err != nil {
		return nil, err
	}
	return runnelv1.NewAdminServiceClient(c).ResetOffsets(ctx, req)
}

// MemberLost tells the coordinator at address that the client of a
// group member's stream relayed there lost its connection.
func (p *Pool) MemberLost(ctx context.Context, address string, req *raftv1.MemberLostRequest) error {
	c, err := p.conn(address)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	_, err = raftv1.NewGroupRelayServiceClient(c).MemberLost(ctx, req)
	return err
}
