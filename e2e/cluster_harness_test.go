package e2e

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// cluster is n runnel serve processes forming one static cluster. Every
// broker reaches every other through its own proxy, so that a test can
// cut a broker off the others while clients still reach it.
type cluster struct {
	t       *testing.T
	brokers []*broker // brokers[i] has node id i+1
	addrs   []string  // their client gRPC addresses, fixed across restarts
	// peerAddrs are their peer listeners' addresses, which the proxies
	// carry the other brokers' traffic to.
	peerAddrs []string
	// proxies[[2]int{i, j}] carries broker i's raft traffic to broker j.
	proxies map[[2]int]*proxy
}

func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, proxies: map[[2]int]*proxy{}}
	for range n {
		c.addrs = append(c.addrs, freeAddr(t))
		c.peerAddrs = append(c.peerAddrs, freeAddr(t))
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
		c.brokers = append(c.brokers, launchBroker(t, filepath.Join(dir, fmt.Sprintf("broker-%d", i+1)),
			"--node-id", fmt.Sprint(i+1), "--listen", c.addrs[i], "--peer-listen", c.peerAddrs[i], "--peers", strings.Join(peers, ",")))
	}
	for _, b := range c.brokers {
		b.waitServing()
	}
	return c
}

// freeAddr returns a loopback address with a port nothing listens on.
//
// NB: a port chosen, closed and bound again may be taken by another
// process in between; the cluster uses it only where it cannot help it.
// Every broker's --peers must name the others' peer addresses before any
// starts, and it writes its ready file only once a quorum is up; and a
// restarted broker must come back on the same client and peer addresses,
// which the other brokers' --peers, the cluster's metadata and the
// clients still hold. (Handing a process listeners bound by the test, as
// systemd socket activation does, would end it; runnel serve cannot take
// them today.) Everything else, the HTTP listener and a broker joining
// with --join, listens on 127.0.0.1:0 and reads its ready file.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// restart starts broker i again (after kill) on its data directory and
// waits until it serves.
func (c *cluster) restart(i int) {
	old := c.brokers[i]
	b := launchBroker(c.t, old.dataDir, old.args...)
	b.waitServing()
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
// gRPC.
type proxy struct {
	lis    net.Listener
	target string

	mu    sync.Mutex // guards cut and conns
	cut   bool
	conns map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *proxy {
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

func (p *proxy) serve(in net.Conn) {
	if !p.track(in) {
		in.Close()
		return
	}
	out, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(out) {
		in.Close()
		if out != nil {
			out.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) { _, _ = io.Copy(dst, src); done <- struct{}{} }
	go pipe(out, in)
	go pipe(in, out)
	<-done
	in.Close()
	out.Close()
	p.mu.Lock()
	delete(p.conns, in)
	delete(p.conns, out)
	p.mu.Unlock()
}

// track registers a connection to close on a cut; false if cut now.
func (p *proxy) track(conn net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[conn] = struct{}{}
	return true
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
