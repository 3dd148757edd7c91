package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
)

// The tests run real brokers: runnel serve processes, built once here
// (a test of client cannot import server: see internal/deps).
var runnelBin string

// exampleBroker is the address of the broker TestMain starts for the
// examples, which take no *testing.T.
var exampleBroker string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "runnel-client-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	runnelBin = filepath.Join(dir, "runnel")
	cmd := exec.Command("go", "build", "-o", runnelBin, "github.com/runnel-broker/runnel/cmd/runnel")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build runnel: %v\n", err)
		return 1
	}
	b, err := launch(filepath.Join(dir, "example"), nil, nil, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0")
	if err == nil {
		err = b.waitServing()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "example broker: %v\n", err)
		return 1
	}
	defer b.stop()
	exampleBroker = b.addr
	return m.Run()
}

// broker is one runnel serve process.
type broker struct {
	dataDir, readyFile string
	cmd                *exec.Cmd
	exited             chan struct{}
	addr               string
	// args and listen are what a cluster's broker is launched with, so
	// that restart can launch it again on the same addresses.
	args   []string
	listen []string

	logMu sync.Mutex
	log   bytes.Buffer
}

func (b *broker) Write(p []byte) (int, error) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.Write(p)
}

func (b *broker) logs() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.String()
}

// launch starts runnel serve on dataDir; files, when given, are its
// listeners (socket activation, as e2e/harness_test.go does), so that a
// cluster's addresses are known before any of its brokers runs.
func launch(dataDir string, env []string, files []*os.File, args ...string) (*broker, error) {
	b := &broker{dataDir: dataDir, readyFile: filepath.Join(dataDir + ".ready"), args: args}
	if err := b.start(env, files); err != nil {
		return nil, err
	}
	return b, nil
}

// start runs the broker's process.
func (b *broker) start(env []string, files []*os.File) error {
	b.exited = make(chan struct{})
	args := append([]string{"serve", "--data-dir", b.dataDir, "--ready-file", b.readyFile}, b.args...)
	var cmd *exec.Cmd
	if files != nil {
		// NB: LISTEN_PID must be the broker's pid: the shell sets it to
		// its own and execs runnel, which keeps the pid and the fds.
		cmd = exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, runnelBin}, args...)...)
		cmd.Env = append(os.Environ(), "LISTEN_FDS=3", "LISTEN_FDNAMES=grpc:http:peer")
		cmd.ExtraFiles = files
	} else {
		cmd = exec.Command(runnelBin, args...)
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr, cmd.Stdout = b, b
	if err := cmd.Start(); err != nil {
		return err
	}
	b.cmd = cmd
	exited := b.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	return nil
}

// restart launches a cluster's broker, killed before, again on its data
// directory and addresses, without waiting for it to serve: a broker
// whose peers are down waits for a quorum.
func (b *broker) restart(t testing.TB) {
	t.Helper()
	os.Remove(b.readyFile)
	var files []*os.File
	for _, addr := range b.listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		f, err := l.(*net.TCPListener).File()
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	if err := b.start(nil, files); err != nil {
		t.Fatal(err)
	}
}

func (b *broker) waitServing() error {
	deadline := time.After(60 * time.Second)
	for {
		data, err := os.ReadFile(b.readyFile)
		if err == nil {
			var info struct {
				GRPC string `json:"grpc"`
			}
			if err := json.Unmarshal(data, &info); err != nil {
				return fmt.Errorf("ready file: %v: %q", err, data)
			}
			b.addr = info.GRPC
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		select {
		case <-b.exited:
			return fmt.Errorf("broker exited before serving:\n%s", b.logs())
		case <-deadline:
			b.kill()
			return fmt.Errorf("broker did not serve within 60s:\n%s", b.logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (b *broker) kill() {
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.exited
}

// stop shuts the broker down gracefully, killing it after 30s.
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
		b.kill()
	}
}

// startBroker starts a single-node broker for the test, with runnel
// serve's flags args.
func startBroker(t testing.TB, args ...string) *broker {
	t.Helper()
	b, err := launch(filepath.Join(t.TempDir(), "broker"), nil, nil,
		append([]string{"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("broker log:\n%s", b.logs())
		}
	})
	if err := b.waitServing(); err != nil {
		t.Fatal(err)
	}
	return b
}

// startCluster starts n brokers, node ids 1 to n, on listeners the test
// binds first so that every --peers is known. The test's copies of the
// listeners are closed once a broker has its own, so that a stopped
// broker's port refuses connections, as a dead machine's would.
func startCluster(t testing.TB, n int) []*broker {
	t.Helper()
	socks := make([][3]*net.TCPListener, n)
	for i := range n {
		for j := range 3 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			socks[i][j] = l.(*net.TCPListener)
		}
	}
	var peers []string
	for i := range n {
		peers = append(peers, fmt.Sprintf("%d=%s", i+1, socks[i][2].Addr()))
	}
	dir := t.TempDir()
	var brokers []*broker
	for i := range n {
		var files []*os.File
		for _, l := range socks[i] {
			f, err := l.File()
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		b, err := launch(filepath.Join(dir, fmt.Sprintf("broker-%d", i+1)), nil, files,
			"--node-id", fmt.Sprint(i+1), "--advertise", socks[i][0].Addr().String(), "--peers", strings.Join(peers, ","))
		for j, f := range files {
			f.Close()
			socks[i][j].Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range socks[i] {
			b.listen = append(b.listen, l.Addr().String())
		}
		t.Cleanup(func() {
			b.stop()
			if t.Failed() {
				t.Logf("broker %d log:\n%s", i+1, b.logs())
			}
		})
		brokers = append(brokers, b)
	}
	for _, b := range brokers {
		if err := b.waitServing(); err != nil {
			t.Fatal(err)
		}
	}
	return brokers
}
