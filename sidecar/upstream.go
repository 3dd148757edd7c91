package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/internal/redial"
)

// maxMessageBytes is what the sidecar sends to and takes from the
// cluster in one message: the broker's largest.
const maxMessageBytes = 64 << 20

// upstream is the sidecar's connections to the cluster: one per broker
// address, the bootstrap ones (--upstream) and those DescribeCluster
// names, each made on first use; gRPC reconnects them by itself.
type upstream struct {
	bootstrap []string
	dialOpts  []grpc.DialOption

	mu    sync.Mutex // guards the fields below
	conns map[string]*grpc.ClientConn
	// good is the index in bootstrap of the last address that answered:
	// calls try it first.
	good int
}

// newUpstream dials addrs over TLS configured by tlsConfig (nil:
// plaintext), its own calls authenticated with token ("": none).
func newUpstream(addrs []string, tlsConfig *tls.Config, token string) *upstream {
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds), redial.Option(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes))}
	if token != "" {
		opts = append(opts, grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
			invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(authenticated(ctx, token), method, req, reply, cc, opts...)
		}), grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
			streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(authenticated(ctx, token), desc, cc, method, opts...)
		}))
	}
	return &upstream{bootstrap: addrs, conns: map[string]*grpc.ClientConn{}, dialOpts: opts}
}

// authenticated is ctx with the sidecar's token, unless the call carries
// the application's already (a relayed call): the cluster authorizes
// each call as whoever made it, and the forwarding of spooled records as
// the sidecar.
func authenticated(ctx context.Context, token string) context.Context {
	if md, ok := grpcmd.FromOutgoingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		return ctx
	}
	return grpcmd.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// conn returns the connection to addr.
func (u *upstream) conn(addr string) (*grpc.ClientConn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c := u.conns[addr]; c != nil {
		return c, nil
	}
	c, err := grpc.NewClient(addr, u.dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", addr, err)
	}
	u.conns[addr] = c
	return c, nil
}

// order is the bootstrap addresses, the last that answered first.
func (u *upstream) order() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.bootstrap))
	for i := range u.bootstrap {
		out = append(out, u.bootstrap[(u.good+i)%len(u.bootstrap)])
	}
	return out
}

func (u *upstream) answered(addr string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, a := range u.bootstrap {
		if a == addr {
			u.good = i
		}
	}
}

// call runs fn on each bootstrap broker in turn until one answers other
// than UNAVAILABLE (or ctx ends), and returns its error: a broker down
// or starting is skipped, an answer is the cluster's.
func (u *upstream) call(ctx context.Context, fn func(*grpc.ClientConn) error) error {
	var errs []error
	for _, addr := range u.order() {
		c, err := u.conn(addr)
		if err == nil {
			err = fn(c)
		}
		if !retriable(err) {
			if err == nil {
				u.answered(addr)
			}
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return status.Errorf(codes.Unavailable, "no upstream broker answered: %v", errors.Join(errs...))
}

// retriable: the call may succeed on another broker or later.
func retriable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}

func (u *upstream) close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	var err error
	for _, c := range u.conns {
		err = errors.Join(err, c.Close())
	}
	return err
}
