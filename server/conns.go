package server

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	grpcpeer "google.golang.org/grpc/peer"
)

// conns tracks the connections the listeners accepted, so that a
// stream's end can tell a client that cancelled it (its connection is
// still open) from one whose connection was lost (closed: a reset, or
// gRPC's keepalive found it dead). gRPC closes a connection before it
// cancels the connection's streams, so a stream that ends because its
// connection went finds it gone.
type conns struct {
	mu   sync.Mutex
	open map[string]bool // by remote address
	seq  atomic.Uint64   // numbers the connections of a Unix socket
}

func newConns() *conns { return &conns{open: map[string]bool{}} }

// listen wraps l so that its connections are tracked.
func (c *conns) listen(l net.Listener) net.Listener { return &trackedListener{Listener: l, conns: c} }

// lost reports whether the connection a call came on is gone.
func (c *conns) lost(ctx context.Context) bool {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.open[p.Addr.String()]
}

type trackedListener struct {
	net.Listener
	conns *conns
}

func (l *trackedListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	remote := conn.RemoteAddr()
	if _, ok := remote.(*net.TCPAddr); !ok {
		// NB: a Unix socket's clients (socket activation) share one
		// address: each gets one of its own, as gRPC's peer sees it.
		remote = uniqueAddr{Addr: remote, n: l.conns.seq.Add(1)}
	}
	addr := remote.String()
	l.conns.mu.Lock()
	l.conns.open[addr] = true
	l.conns.mu.Unlock()
	return &trackedConn{Conn: conn, conns: l.conns, remote: remote, addr: addr}, nil
}

// uniqueAddr is a non-TCP peer address made unique per connection.
type uniqueAddr struct {
	net.Addr
	n uint64
}

func (a uniqueAddr) String() string { return fmt.Sprintf("%s#%d", a.Addr.String(), a.n) }

type trackedConn struct {
	net.Conn
	conns  *conns
	remote net.Addr
	addr   string
	once   sync.Once
}

func (c *trackedConn) RemoteAddr() net.Addr { return c.remote }

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.conns.mu.Lock()
		delete(c.conns.open, c.addr)
		c.conns.mu.Unlock()
	})
	return c.Conn.Close()
}
