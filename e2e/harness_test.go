package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	t       *testing.T
	dataDir string
	args    []string // runnel's arguments, to restart it alike
	cmd     *exec.Cmd
	addr    string // gRPC host:port
	http    string
	// readyFile is where it writes its addresses once it serves
	// (--ready-file).
	readyFile string
	exited    chan struct{}
	logMu     sync.Mutex
	log       strings.Builder
}

// startBroker starts runnel serve on dataDir with ports chosen by the
// kernel and waits until it serves.
func startBroker(t *testing.T, dataDir string, extraArgs ...string) *broker {
	t.Helper()
	b := launchBroker(t, dataDir, extraArgs...)
	b.waitServing()
	return b
}

// launchBroker starts runnel serve on dataDir and returns without waiting
// (a broker of a cluster serves only once a quorum is up). Later
// arguments override earlier ones.
func launchBroker(t *testing.T, dataDir string, extraArgs ...string) *broker {
	t.Helper()
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	args := append([]string{"serve", "--data-dir", dataDir, "--ready-file", readyFile,
		"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"}, extraArgs...)
	cmd := exec.Command(bins.runnel, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, dataDir: dataDir, args: extraArgs, cmd: cmd, readyFile: readyFile, exited: make(chan struct{})}
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

func (b *broker) dial(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.Dial(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runShell runs a command line with bash and returns its combined output.
func runShell(t *testing.T, env []string, command string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
