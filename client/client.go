package client

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// DefaultAddress is where a broker listens by default.
const DefaultAddress = "127.0.0.1:7400"

// maxMessageBytes matches the broker's limit, so that a subscription can
// receive any record the broker accepts.
const maxMessageBytes = 64 << 20

// Client is a connection to a broker and its services' stubs.
type Client struct {
	conn *grpc.ClientConn

	Admin     runnelv1.AdminServiceClient
	Produce   runnelv1.ProduceServiceClient
	Subscribe runnelv1.SubscribeServiceClient
	Commit    runnelv1.CommitServiceClient
}

// Dial connects to the broker at address (host:port). Connecting is lazy:
// errors surface on the first call.
func Dial(address string, opts ...Option) (*Client, error) {
	o := options{}
	for _, opt := range opts {
		opt.apply(&o)
	}
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	}, o.dialOptions...)
	conn, err := grpc.NewClient(address, dialOpts...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:      conn,
		Admin:     runnelv1.NewAdminServiceClient(conn),
		Produce:   runnelv1.NewProduceServiceClient(conn),
		Subscribe: runnelv1.NewSubscribeServiceClient(conn),
		Commit:    runnelv1.NewCommitServiceClient(conn),
	}, nil
}

// Conn returns the underlying connection, for other stubs (health).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
