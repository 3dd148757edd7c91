package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel-broker/runnel/server"
)

// devStopTimeout is how long runnel dev waits for its brokers to stop
// after SIGTERM (each hands its leaderships off first) before it kills
// the rest.
const devStopTimeout = 30 * time.Second

// devMarker is the file runnel dev keeps in a data directory it created,
// so that --fresh wipes only a directory that is its own.
const devMarker = ".runnel-dev"

// devPortStride is how far apart the brokers' ports are: broker i has
// base+10*(i-1) (gRPC), +1 (HTTP) and +2 (peer).
const devPortStride = 10

func newDevCommand() *cobra.Command {
	var (
		brokers  int
		dataDir  string
		basePort int
		host     string
		fresh    bool
		logLevel slog.Level
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster of brokers, one process each, until Ctrl-C",
		Long: `Run a local cluster for development, in one terminal: a runnel serve
process for each of --brokers brokers (3 by default), each with its own
data directory and ports. Their logs are interleaved on stderr, each line
prefixed by [broker N]; once they all serve, a table of their addresses and
the commands to try next are printed on stdout.

Broker N (node id N) listens on --base-port + 10*(N-1) for clients (gRPC),
one above it for HTTP (/metrics, /healthz) and two above it for the other
brokers (peer):

  broker 1: 7400 7401 7402  (the CLI's default address: no --broker needed)
  broker 2: 7410 7411 7412
  broker 3: 7420 7421 7422

runnel dev binds every port itself before any broker starts, so a port in
use fails at once, and hands each broker its sockets (socket activation, as
runnel serve --help describes). --base-port 0 takes ports the kernel
chooses. Broker N keeps its data in --data-dir/broker-N, kept across runs;
--fresh wipes it first, in a directory runnel dev made only (it holds a
.runnel-dev file). The ready file of broker N (see runnel serve
--ready-file) is --data-dir/broker-N.ready.json.

Ctrl-C (or SIGTERM) stops the brokers gracefully: each hands its
leaderships off, then stops; those still running after 30s, or at a second
Ctrl-C, are killed. If a broker exits on its own, runnel dev stops the
others and fails. On Linux the brokers die with runnel dev even if it is
killed.`,
		Example: `  runnel dev
  runnel dev --brokers 5 --fresh
  runnel dev --base-port 9000 --data-dir /tmp/cluster`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := planDev(brokers, basePort, host)
			if err != nil {
				return err
			}
			// NB: before the listeners are bound or a directory touched,
			// so that no signal in between kills runnel dev by default; a
			// signal while the brokers stop comes here too (a second
			// Ctrl-C kills them).
			signals := make(chan os.Signal, 4)
			signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(signals)
			c := &devCluster{
				out: cmd.OutOrStdout(), log: &syncWriter{w: cmd.ErrOrStderr()},
				dataDir: dataDir, logLevel: logLevel.String(), signals: signals, cancel: cmd.Context().Done(),
			}
			// NB: the ports first: one in use fails before anything is
			// written.
			if err := c.bind(plan); err != nil {
				return err
			}
			if err := prepareDevDataDir(dataDir, brokers, fresh); err != nil {
				c.closeListeners()
				return err
			}
			return c.run()
		},
	}
	f := cmd.Flags()
	f.IntVar(&brokers, "brokers", 3, "how many brokers to run, 1 to 9")
	f.StringVar(&dataDir, "data-dir", "data-dev", "directory holding each broker's data directory, broker-1, broker-2, ...")
	f.IntVar(&basePort, "base-port", 7400, "first broker's gRPC port; the others follow 10 apart (0: ports the kernel chooses)")
	f.StringVar(&host, "host", "127.0.0.1", "address the brokers listen on, and reach each other and are reached on")
	f.BoolVar(&fresh, "fresh", false, "wipe the brokers' data first (only in a data directory runnel dev created)")
	f.TextVar(&logLevel, "log-level", slog.LevelInfo, "the brokers' log level: debug, info, warn or error")
	return cmd
}

// devPorts are one broker's planned ports (0: the kernel chooses).
type devPorts struct{ grpc, http, peer int }

// devPlan is where runnel dev's brokers listen: brokers[i] is node i+1.
type devPlan struct {
	host    string
	brokers []devPorts
}

// planDev checks the flags and lays the ports out: broker i (from 1) on
// base+10*(i-1), +1 and +2; all 0 with base 0.
func planDev(brokers, base int, host string) (devPlan, error) {
	if brokers < 1 || brokers > 9 {
		return devPlan{}, fmt.Errorf("--brokers %d: run 1 to 9 brokers", brokers)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return devPlan{}, fmt.Errorf("--host %q: the brokers tell each other and clients this address, so give one they can dial, such as 127.0.0.1", host)
	}
	if last := base + devPortStride*(brokers-1) + 2; base < 0 || base > 0 && (base < 1024 || last > 65535) {
		return devPlan{}, fmt.Errorf("--base-port %d: %d brokers need ports %d to %d: pick a base from 1024 to %d, or 0 for ports the kernel chooses",
			base, brokers, base, last, 65535-devPortStride*(brokers-1)-2)
	}
	plan := devPlan{host: host}
	for i := range brokers {
		p := base + devPortStride*i
		ports := devPorts{} // all 0: the kernel chooses
		if base > 0 {
			ports = devPorts{p, p + 1, p + 2}
		}
		plan.brokers = append(plan.brokers, ports)
	}
	return plan, nil
}

// prepareDevDataDir creates the data directory, marked as runnel dev's,
// or with fresh wipes the brokers' data in it: only in a directory that
// is missing, empty or marked, never in one that holds something else.
// A marked directory records how many brokers it was made for, since a
// broker's data refuses another set of peers.
func prepareDevDataDir(dir string, brokers int, fresh bool) error {
	marker := filepath.Join(dir, devMarker)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--data-dir: %w", err)
	}
	stored, err := os.ReadFile(marker)
	ours := err == nil
	switch {
	case ours && !fresh:
		if n, err := strconv.Atoi(strings.TrimSpace(string(stored))); err == nil && n != brokers {
			return fmt.Errorf("%s holds the data of a %d-broker cluster, which refuses to become one of %d: run with --brokers %d, or --fresh to start over", dir, n, brokers, n)
		}
		return nil
	case !ours && len(entries) > 0:
		if fresh {
			return fmt.Errorf("--fresh: %s does not look like runnel dev's (it holds no %s file), so it is left alone: remove it yourself, or pick another --data-dir", dir, devMarker)
		}
		// The user's own directory: the brokers' directories go in it,
		// but it is never marked, so never wiped.
		return nil
	}
	// Missing, empty, or ours to wipe.
	if fresh {
		for i := 1; i <= 9; i++ {
			for _, name := range []string{fmt.Sprintf("broker-%d", i), fmt.Sprintf("broker-%d.ready.json", i)} {
				if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
					return fmt.Errorf("--fresh: %w", err)
				}
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if err := os.WriteFile(marker, []byte(strconv.Itoa(brokers)+"\n"), 0o644); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	return nil
}

// devCluster runs the brokers of runnel dev.
type devCluster struct {
	out      io.Writer   // the table and the hints
	log      *syncWriter // the brokers' logs and runnel dev's own lines
	dataDir  string
	logLevel string
	// signals are SIGINT, SIGTERM and SIGHUP; cancel is the command's
	// context ending (the first signal too, in runnel's main).
	signals <-chan os.Signal
	cancel  <-chan struct{}

	brokers []*devBroker
	exits   chan devExit
}

// devBroker is one broker process.
type devBroker struct {
	id                 int
	grpc, http, peer   string // bound addresses
	dataDir, readyFile string
	listeners          []*net.TCPListener // grpc, http, peer: until it starts
	cmd                *exec.Cmd
	logs               *prefixWriter
	exited             bool
}

// devExit is a broker's end: cmd.Wait's error.
type devExit struct {
	broker *devBroker
	err    error
}

func (c *devCluster) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "[runnel dev] "+format+"\n", args...)
}

// run starts the brokers on their bound listeners, prints the table
// once they serve, and stops them at a signal or when one exits.
func (c *devCluster) run() error {
	self, err := os.Executable()
	if err != nil {
		c.closeListeners()
		return fmt.Errorf("find the runnel binary to run: %w", err)
	}
	c.exits = make(chan devExit, len(c.brokers))
	var peers []string
	for _, b := range c.brokers {
		peers = append(peers, fmt.Sprintf("%d=%s", b.id, b.peer))
	}
	for _, b := range c.brokers {
		if err := c.start(b, self, strings.Join(peers, ",")); err != nil {
			c.closeListeners()
			return errors.Join(err, c.stop())
		}
	}
	// NB: the brokers have their copies; without ours, a broker's port
	// is free again once it exits.
	c.closeListeners()

	stopped, err := c.waitReady()
	if err == nil && !stopped {
		c.printTable()
		err = c.waitEnd()
	}
	return errors.Join(err, c.stop())
}

// bind binds every broker's listeners, in order, before any broker
// starts: a port in use fails here, naming it.
func (c *devCluster) bind(plan devPlan) error {
	for i, ports := range plan.brokers {
		b := &devBroker{
			id:        i + 1,
			dataDir:   filepath.Join(c.dataDir, fmt.Sprintf("broker-%d", i+1)),
			readyFile: filepath.Join(c.dataDir, fmt.Sprintf("broker-%d.ready.json", i+1)),
		}
		c.brokers = append(c.brokers, b)
		for _, l := range []struct {
			what string
			port int
			addr *string
		}{{"gRPC", ports.grpc, &b.grpc}, {"HTTP", ports.http, &b.http}, {"peer", ports.peer, &b.peer}} {
			addr := net.JoinHostPort(plan.host, strconv.Itoa(l.port))
			lis, err := net.Listen("tcp", addr)
			if err != nil {
				c.closeListeners()
				if errors.Is(err, syscall.EADDRINUSE) {
					return fmt.Errorf("broker %d's %s port, %s, is in use (another broker, or runnel dev, running?): stop what holds it, or move the brokers' ports with --base-port", b.id, l.what, addr)
				}
				return fmt.Errorf("broker %d's %s port: %w", b.id, l.what, err)
			}
			b.listeners = append(b.listeners, lis.(*net.TCPListener))
			*l.addr = lis.Addr().String()
		}
	}
	return nil
}

func (c *devCluster) closeListeners() {
	for _, b := range c.brokers {
		for _, l := range b.listeners {
			l.Close()
		}
		b.listeners = nil
	}
}

// start starts broker b as runnel serve on its listeners (self is the
// runnel binary) and a goroutine that reports its exit on c.exits.
func (c *devCluster) start(b *devBroker, self, peers string) error {
	// NB: a ready file left by a killed run would pass for this one's.
	if err := os.Remove(b.readyFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close() // the child has its copy once started
		}
	}()
	for _, l := range b.listeners {
		f, err := l.File()
		if err != nil {
			return fmt.Errorf("broker %d: %w", b.id, err)
		}
		files = append(files, f)
	}
	args := []string{"serve", "--node-id", strconv.Itoa(b.id), "--data-dir", b.dataDir, "--ready-file", b.readyFile,
		"--listen", b.grpc, "--http-listen", b.http, "--peer-listen", b.peer, "--peers", peers, "--log-level", c.logLevel}
	// NB: LISTEN_PID must be the broker's own pid, known only once it
	// runs: the shell sets it to its own, then execs runnel, which keeps
	// the pid, the sockets (fds 3, 4, 5) and the parent-death signal.
	b.cmd = exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, self}, args...)...)
	b.cmd.Env = append(brokerEnv(os.Environ()), "LISTEN_FDS=3", "LISTEN_FDNAMES="+strings.Join(activationNames, ":"))
	b.cmd.ExtraFiles = files
	b.logs = &prefixWriter{prefix: fmt.Sprintf("[broker %d] ", b.id), w: c.log}
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs // NB: the same writer: one pipe, lines in order
	b.cmd.SysProcAttr = devSysProcAttr()
	b.cmd.WaitDelay = time.Second // a grandchild holding the pipe delays Wait no longer

	started := make(chan error)
	go func() {
		// NB: Linux sends the parent-death signal when the thread that
		// forked the child exits, not the process (go.dev/issue/27505):
		// this goroutine keeps its thread until the child is reaped.
		runtime.LockOSThread()
		if err := b.cmd.Start(); err != nil {
			started <- fmt.Errorf("start broker %d: %w", b.id, err)
			return
		}
		started <- nil
		err := b.cmd.Wait()
		b.logs.flush()
		c.exits <- devExit{b, err}
	}()
	return <-started
}

// brokerEnv is env for a broker: without socket activation's variables
// (each broker gets its own), nor the RUNNEL_* ones that would name one
// address for every broker (--advertise, --advertise-peer) or contradict
// --peers (--join). The others, RUNNEL_GROUP_SESSION_TIMEOUT and so on,
// set every broker's flag.
func brokerEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "RUNNEL_ADVERTISE", "RUNNEL_ADVERTISE_PEER", "RUNNEL_JOIN":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// waitReady waits until every broker has written its ready file; it
// returns early, stopped, on a signal or the context's end, or with an
// error when a broker exits.
func (c *devCluster) waitReady() (stopped bool, err error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := 0
		for _, b := range c.brokers {
			if b.isReady() {
				ready++
			}
		}
		if ready == len(c.brokers) {
			return false, nil
		}
		select {
		case e := <-c.exits:
			return true, c.exitedOnItsOwn(e)
		case <-c.signals:
			return true, nil
		case <-c.cancel:
			return true, nil
		case <-tick.C:
		}
	}
}

// isReady reports whether b wrote its ready file, this run's (its pid).
func (b *devBroker) isReady() bool {
	data, err := os.ReadFile(b.readyFile)
	if err != nil {
		return false
	}
	var info server.ReadyInfo
	return json.Unmarshal(data, &info) == nil && info.PID == b.cmd.Process.Pid
}

// waitEnd waits for a signal, the context's end or a broker's exit.
func (c *devCluster) waitEnd() error {
	select {
	case e := <-c.exits:
		return c.exitedOnItsOwn(e)
	case <-c.signals:
	case <-c.cancel:
	}
	return nil
}

func (c *devCluster) exitedOnItsOwn(e devExit) error {
	e.broker.exited = true
	status := "exit status 0"
	if e.err != nil {
		status = e.err.Error()
	}
	c.logf("broker %d exited on its own (%s): stopping the others", e.broker.id, status)
	return fmt.Errorf("broker %d exited on its own (%s); its log is above, prefixed [broker %d]", e.broker.id, status, e.broker.id)
}

// printTable prints where the brokers are, and what to try.
func (c *devCluster) printTable() {
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tGRPC\tHTTP\tPEER\tDATA DIR")
	var grpc []string
	for _, b := range c.brokers {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", b.id, b.grpc, b.http, b.peer, b.dataDir)
		grpc = append(grpc, b.grpc)
	}
	w.Flush()
	fmt.Fprintf(c.out, "\n%d broker(s) serving. In another terminal:\n\n", len(c.brokers))
	fmt.Fprintf(c.out, "  export RUNNEL_BROKER=%s\n", strings.Join(grpc, ","))
	fmt.Fprintf(c.out, "  runnel topic create demo --partitions 3 --replication-factor %d\n", min(3, len(c.brokers)))
	fmt.Fprintf(c.out, "  runnel cluster describe\n\nCtrl-C stops them.\n")
}

// stop stops the brokers still running: SIGTERM, then, after
// devStopTimeout or at another signal, SIGKILL. It returns an error for
// each broker that did not stop cleanly.
//
// NB: a signal within the first second is taken for the one that asked
// for the stop, not another: in runnel's main a signal ends the context
// too, either may come first; and some senders signal twice at once
// (coreutils' timeout signals the child, then its process group).
func (c *devCluster) stop() error {
	begun := time.Now()
	running := 0
	for _, b := range c.brokers {
		if b.cmd != nil && b.cmd.Process != nil && !b.exited {
			running++
		}
	}
	if running == 0 {
		return nil
	}
	c.logf("stopping %d broker(s); a second Ctrl-C kills them", running)
	for _, b := range c.brokers {
		if b.cmd != nil && b.cmd.Process != nil && !b.exited {
			_ = b.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	timeout := time.NewTimer(devStopTimeout)
	defer timeout.Stop()
	killed := false
	kill := func(why string) {
		if killed {
			return
		}
		killed = true
		c.logf("%s: killing the brokers still running", why)
		for _, b := range c.brokers {
			if b.cmd != nil && b.cmd.Process != nil && !b.exited {
				_ = b.cmd.Process.Kill()
			}
		}
	}
	var errs []error
	for running > 0 {
		select {
		case e := <-c.exits:
			running--
			e.broker.exited = true
			if e.err != nil {
				errs = append(errs, fmt.Errorf("broker %d: %w", e.broker.id, e.err))
			}
		case <-c.signals:
			if time.Since(begun) > time.Second {
				kill("signalled again")
			}
		case <-timeout.C:
			kill(fmt.Sprintf("not stopped within %s", devStopTimeout))
		}
	}
	if len(errs) == 0 {
		c.logf("all brokers stopped")
	}
	return errors.Join(errs...)
}

// syncWriter serializes writes to w, one line each from the brokers'
// prefixWriters.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// prefixWriter writes each whole line written to it to w, after prefix.
// It drops what w fails to take (a terminal closed): a broker whose log
// pipe broke would die of SIGPIPE at its next line, not stop cleanly.
type prefixWriter struct {
	prefix string
	w      io.Writer

	mu      sync.Mutex // guards partial
	partial []byte     // the start of a line not ended yet
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			break
		}
		line := append(append([]byte(p.prefix), p.partial...), b[:i+1]...)
		p.partial = p.partial[:0]
		b = b[i+1:]
		_, _ = p.w.Write(line)
	}
	return n, nil
}

// flush writes a last line that did not end, ending it.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.partial) > 0 {
		_, _ = p.w.Write(append(append([]byte(p.prefix), p.partial...), '\n'))
		p.partial = nil
	}
}
