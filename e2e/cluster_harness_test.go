package e2e

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/runnel-broker/runnel/client"
)

// cluster is n runnel serve processes forming one static cluster. Every
// broker reaches every other through its own proxy, so that a test can
// cut a broker off the others while clients still reach it. Clients reach
// each broker through a proxy too, which closes their connections while
// the broker is down or starting.
type cluster struct {
	t       testing.TB
	brokers []*broker // brokers[i] has node id i+1
	// addrs are their client gRPC addresses, fixed across restarts: the
	// proxies' in front of them (clientProxies), which each broker
	// advertises.
	addrs         []string
	clientProxies []*proxy
	// socks are their listeners, bound by the test before any broker
	// starts and passed to each start of it: every broker's --peers
	// names the others' peer addresses, and a restarted broker comes back
	// on the same ones.
	socks []*sockets
	// peerAddrs are their peer listeners' addresses, which the proxies
	// carry the other brokers' traffic to.
	peerAddrs []string
	// proxies[[2]int{i, j}] carries broker i's raft traffic to broker j.
	proxies map[[2]int]*proxy
	// serveArgs are added to every broker's runnel serve arguments;
	// clientOpts are how the test's clients reach the brokers.
	serveArgs  []string
	clientOpts []client.Option
}

// startCluster starts n brokers; extraArgs are added to each one's
// runnel serve arguments.
func startCluster(t testing.TB, n int, extraArgs ...string) *cluster {
	t.Helper()
	return startClusterWith(t, n, extraArgs, nil)
}

// startClusterWith starts n brokers with serveArgs added to each one's
// runnel serve arguments, which the test's clients reach with clientOpts.
func startClusterWith(t testing.TB, n int, serveArgs []string, clientOpts []client.Option) *cluster {
	t.Helper()
	c := &cluster{t: t, proxies: map[[2]int]*proxy{}, serveArgs: serveArgs, clientOpts: clientOpts}
	for range n {
		front := startProxy(t, "" /* target: once it serves */)
		c.clientProxies = append(c.clientProxies, front)
		c.addrs = append(c.addrs, front.addr())
		socks := bindSockets(t)
		c.socks = append(c.socks, socks)
		c.peerAddrs = append(c.peerAddrs, socks.peerAddr())
	}
	for i := range n {
		for j := range n {
			if i != j {
				c.proxies[[2]int{i, j}] = startProxy(t, c.peerAddrs[j])
			}
		}
	}
	dir := t.TempDir()
	for i := range n {
		var peers []string
		for j := range n {
			addr := c.peerAddrs[j]
			if i != j {
				addr = c.proxies[[2]int{i, j}].addr()
			}
			peers = append(peers, fmt.Sprintf("%d=%s", j+1, addr))
		}
		c.brokers = append(c.brokers, launchBrokerOn(t, c.socks[i], filepath.Join(dir, fmt.Sprintf("broker-%d", i+1)),
			append([]string{"--node-id", fmt.Sprint(i + 1), "--advertise", c.addrs[i], "--peers", strings.Join(peers, ",")}, serveArgs...)...))
	}
	for i, b := range c.brokers {
		b.clientOpts = clientOpts
		b.waitServing()
		c.clientProxies[i].setTarget(b.addr)
	}
	return c
}

// dial connects to broker i at its fixed address (its proxy's), which
// reaches it across restarts.
func (c *cluster) dial(t testing.TB, i int) *client.Client {
	t.Helper()
	cl, err := c.connect(c.addrs[i])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// connect dials addr as the test's clients reach the cluster.
func (c *cluster) connect(addr string) (*client.Client, error) {
	return client.Dial(addr, c.clientOpts...)
}

// kill sends broker i SIGKILL and waits for it to die. Its listeners stay
// bound (the test holds them) and refuse connections until it restarts,
// and its client proxy closes clients' at once meanwhile, as a closed
// port would.
func (c *cluster) kill(i int) {
	c.clientProxies[i].setTarget("")
	c.brokers[i].kill()
	c.socks[i].refuse()
}

// restart starts broker i again (after kill) on its data directory and
// its listeners, and waits until it serves.
func (c *cluster) restart(i int) {
	old := c.brokers[i]
	old.socks.unrefuse()
	b := launchBrokerOn(c.t, old.socks, old.dataDir, old.args...)
	b.clientOpts = c.clientOpts
	b.waitServing()
	c.clientProxies[i].setTarget(b.addr)
	c.brokers[i] = b
}

// isolate cuts broker i off the other brokers (both directions); heal
// reconnects it.
func (c *cluster) isolate(i int) { c.setCut(i, true) }
func (c *cluster) heal(i int)    { c.setCut(i, false) }

func (c *cluster) setCut(i int, cut bool) {
	for k, p := range c.proxies {
		if k[0] == i || k[1] == i {
			p.setCut(cut)
		}
	}
}

// proxy forwards TCP connections to target until cut: then it closes them
// all and every new one at once, as a broken network link would look to
// gRPC. With no target yet it closes them too.
type proxy struct {
	lis net.Listener

	mu     sync.Mutex // guards target, cut and conns
	target string
	cut    bool
	conns  map[net.Conn]struct{}
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis, target: target, conns: map[net.Conn]struct{}{}}
	go p.accept()
	t.Cleanup(func() { lis.Close(); p.setCut(true) })
	return p
}

func (p *proxy) addr() string { return p.lis.Addr().String() }

func (p *proxy) accept() {
	for {
		in, err := p.lis.Accept()
		if err != nil {
			return
		}
		go p.serve(in)
	}
}

// setTarget points the connections made from now on at target.
func (p *proxy) setTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

func (p *proxy) serve(in net.Conn) {
	target, ok := p.track(in)
	if !ok || target == "" {
		p.untrack(in)
		return
	}
	out, err := net.Dial("tcp", target)
	if err != nil {
		p.untrack(in)
		return
	}
	if _, ok := p.track(out); !ok {
		p.untrack(in, out)
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) { _, _ = io.Copy(dst, src); done <- struct{}{} }
	go pipe(out, in)
	go pipe(in, out)
	<-done
	p.untrack(in, out)
}

// untrack closes connections and forgets them.
func (p *proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conn := range conns {
		conn.Close()
		delete(p.conns, conn)
	}
}

// track registers a connection to close on a cut, and returns the target;
// false if cut now.
func (p *proxy) track(conn net.Conn) (target string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return "", false
	}
	p.conns[conn] = struct{}{}
	return p.target, true
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for conn := range p.conns {
			conn.Close()
		}
		clear(p.conns)
	}
}
