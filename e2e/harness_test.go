package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/client"
)

// bins holds the binaries TestMain built.
var bins struct {
	dir, runnel, grpcurl string
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(groupConsumerEnv); cfg != "" {
		os.Exit(runGroupConsumer(cfg)) // a consumer process of TestConsumerGroups
	}
	dir, err := os.MkdirTemp("", "runnel-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.runnel = filepath.Join(dir, "runnel")
	bins.grpcurl = filepath.Join(dir, "grpcurl")
	for _, b := range []struct{ out, pkg string }{
		{bins.runnel, "github.com/runnel-broker/runnel/cmd/runnel"},
		{bins.grpcurl, "github.com/fullstorydev/grpcurl/cmd/grpcurl"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", b.pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// broker is a runnel serve process.
type broker struct {
	t       testing.TB
	dataDir string
	socks   *sockets // its listeners, kept across its restarts
	args    []string // runnel's arguments, to restart it alike
	// clientOpts are how a client reaches it (TLS, for a broker serving
	// it): the cluster's, set by the cluster that started it.
	clientOpts []client.Option
	cmd        *exec.Cmd
	addr       string // gRPC host:port
	http       string
	// readyFile is where it writes its addresses once it serves
	// (--ready-file).
	readyFile string
	exited    chan struct{}
	logMu     sync.Mutex
	log       strings.Builder
}

// startBroker starts runnel serve on dataDir, on listeners the test
// binds, and waits until it serves.
func startBroker(t testing.TB, dataDir string, extraArgs ...string) *broker {
	t.Helper()
	b := launchBroker(t, dataDir, extraArgs...)
	b.waitServing()
	return b
}

// launchBroker starts runnel serve on dataDir, on listeners of its own
// the test binds (bindSockets), and returns without waiting (a broker of
// a cluster serves only once a quorum is up). Later arguments override
// earlier ones.
func launchBroker(t testing.TB, dataDir string, extraArgs ...string) *broker {
	t.Helper()
	return launchBrokerOn(t, bindSockets(t), dataDir, extraArgs...)
}

// sockets are a broker's three listeners, bound by the test and passed
// to the broker process at each of its starts, as systemd's socket
// activation does: fds 3, 4 and 5, named by LISTEN_FDNAMES. They stay
// bound while the broker is down, so a restarted broker listens on the
// same addresses, and no port is ever chosen, closed and bound again
// (which another process may take in between).
type sockets struct {
	grpc, http, peer *net.TCPListener
	// stopRefusing ends refuse; nil when not refusing.
	stopRefusing func()
}

func (s *sockets) all() []*net.TCPListener { return []*net.TCPListener{s.grpc, s.http, s.peer} }

// refuse takes every connection to the sockets and resets it at once,
// until unrefuse, as a closed port refuses them: while a killed broker
// is down, the others and the proxies fail to reach it at once and turn
// elsewhere, as after a crash, rather than wait in the listen backlog
// for its restart (what socket activation gives a service, which would
// stretch the failover the cluster test measures by its clients'
// timeouts).
func (s *sockets) refuse() {
	var wg sync.WaitGroup
	for _, l := range s.all() {
		wg.Go(func() {
			for {
				conn, err := l.AcceptTCP()
				if err != nil {
					return // unrefuse, or the test ended
				}
				_ = conn.SetLinger(0) // a reset, as a refusal looks to gRPC
				conn.Close()
			}
		})
	}
	s.stopRefusing = func() {
		for _, l := range s.all() {
			_ = l.SetDeadline(time.Now()) // NB: ends the Accept waiting
		}
		wg.Wait()
		for _, l := range s.all() {
			_ = l.SetDeadline(time.Time{})
		}
	}
}

// unrefuse ends refuse, before the broker starts again on the sockets:
// connections from then on wait for it.
func (s *sockets) unrefuse() {
	if s.stopRefusing != nil {
		s.stopRefusing()
		s.stopRefusing = nil
	}
}

// bindSockets binds a broker's listeners on ports the kernel chooses;
// they close when the test ends.
func bindSockets(t testing.TB) *sockets {
	t.Helper()
	var ls [3]*net.TCPListener
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		ls[i] = l.(*net.TCPListener)
	}
	return &sockets{grpc: ls[0], http: ls[1], peer: ls[2]}
}

func (s *sockets) peerAddr() string { return s.peer.Addr().String() }

// activationNames names the sockets passed, in the order of
// exec.Cmd.ExtraFiles (LISTEN_FDNAMES).
const activationNames = "grpc:http:peer"

// files returns the sockets as files to pass to a child, in the order of
// activationNames.
func (s *sockets) files(t testing.TB) []*os.File {
	t.Helper()
	var files []*os.File
	for _, l := range s.all() {
		f, err := l.File()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// launchBrokerOn is launchBroker on the given sockets: the same ones
// again when it restarts a broker.
func launchBrokerOn(t testing.TB, socks *sockets, dataDir string, extraArgs ...string) *broker {
	t.Helper()
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	args := append([]string{"serve", "--data-dir", dataDir, "--ready-file", readyFile}, extraArgs...)
	// NB: LISTEN_PID must be the broker's pid, which is only known once
	// it runs: the shell sets it to its own, then execs runnel, which
	// keeps both the pid and the inherited fds.
	cmd := exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, bins.runnel}, args...)...)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=3", "LISTEN_FDNAMES="+activationNames)
	cmd.ExtraFiles = socks.files(t)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Start()
	for _, f := range cmd.ExtraFiles {
		f.Close() // NB: the child has its own copies
	}
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, dataDir: dataDir, socks: socks, args: extraArgs, cmd: cmd, readyFile: readyFile, exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.logMu.Lock()
			b.log.WriteString(sc.Text() + "\n")
			b.logMu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { _ = cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("broker log (%s):\n%s", dataDir, b.logs())
		}
	})
	return b
}

// readyInfo is the part of the ready file (runnel serve --ready-file) the
// tests use.
type readyInfo struct {
	GRPC string `json:"grpc"`
	HTTP string `json:"http"`
}

// waitServing waits until the broker writes its ready file, which it
// does once it serves, and takes its addresses from it.
func (b *broker) waitServing() {
	b.t.Helper()
	const timeout = 60 * time.Second
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// NB: the broker writes it whole or not at all (a rename): no
		// file is the only reason to wait.
		data, err := os.ReadFile(b.readyFile)
		if err == nil {
			var info readyInfo
			if err := json.Unmarshal(data, &info); err != nil {
				b.t.Fatalf("ready file %s: %v: %q", b.readyFile, err, data)
			}
			b.addr, b.http = info.GRPC, info.HTTP
			return
		}
		if !errors.Is(err, fs.ErrNotExist) {
			b.t.Fatalf("ready file: %v", err)
		}
		select {
		case <-b.exited:
			b.t.Fatalf("broker exited (%v) before writing its ready file %s; stderr:\n%s", b.cmd.ProcessState, b.readyFile, b.logs())
		case <-deadline:
			b.kill()
			b.t.Fatalf("broker wrote no ready file (%s) within %s, so it did not serve; stderr:\n%s", b.readyFile, timeout, b.logs())
		case <-tick.C:
		}
	}
}

func (b *broker) logs() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.String()
}

// kill sends SIGKILL and waits for the process to die.
func (b *broker) kill() {
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.exited
}

// stop shuts the broker down gracefully (SIGTERM), killing it if it takes
// too long.
func (b *broker) stop() {
	select {
	case <-b.exited:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		b.t.Errorf("broker did not stop within 30s of SIGTERM")
		b.kill()
	}
}

func (b *broker) dial(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.Dial(b.addr, b.clientOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it returns nil, and fails the test if it has
// not within timeout, saying what it waited for and cond's last error
// (which should say what it saw instead). It polls every 10ms at first,
// backing off to every 100ms. The server's tests have the same.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: still %v", timeout, what, err)
		}
		time.Sleep(pause)
	}
}

// runShell runs a command line with bash and returns its combined output.
func runShell(t testing.TB, env []string, command string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
