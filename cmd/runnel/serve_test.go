package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestServeLogFormatJSON starts a broker with --log-format json and checks
// that every line it logs, from start to shutdown, is a JSON object.
func TestServeLogFormatJSON(t *testing.T) {
	p := serveInProcess(t, "--log-format", "json")
	if err := p.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	stderr := p.stderr
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	serving := false
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		if rec["level"] == nil || rec["msg"] == nil {
			t.Fatalf("line without level or msg: %q", line)
		}
		serving = serving || rec["msg"] == "runnel serving"
	}
	if !serving {
		t.Fatalf("no runnel serving line:\n%s", stderr.String())
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"msg":"runnel stopped"`) {
		t.Fatalf("last line %q, want runnel stopped", last)
	}
}

func TestServeLogFormatInvalid(t *testing.T) {
	root := newRootCommand()
	root.SetArgs([]string{"serve", "--log-format", "xml"})
	root.SetErr(new(bytes.Buffer))
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), `invalid argument "xml" for "--log-format" flag: use text`) {
		t.Fatalf("serve --log-format xml: %v", err)
	}
}

// waitReadyFile waits up to 30s for serve (which returns on done) to
// write its ready file, and returns what it holds.
func waitReadyFile(t *testing.T, path string, done <-chan error, stderr *lockedBuffer) []byte {
	t.Helper()
	const timeout = 30 * time.Second
	deadline := time.After(timeout)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			return data
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned %v before writing its ready file; stderr:\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("no ready file after %s (%v); stderr:\n%s", timeout, err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeReadyFile starts a broker on ports the kernel chooses and
// checks that the ready file names them, that they serve, and that a
// clean shutdown removes the file.
func TestServeReadyFile(t *testing.T) {
	p := serveInProcess(t)
	data := p.ready
	var ready map[string]any
	if err := json.Unmarshal(data, &ready); err != nil {
		t.Fatalf("ready file %q: %v", data, err)
	}
	for _, key := range []string{"grpc", "peer", "http"} {
		addr, _ := ready[key].(string)
		if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
			t.Fatalf("ready file %s: %q is no bound address", key, addr)
		}
	}
	if ready["node_id"] != float64(1) || ready["cluster_id"] == "" || ready["version"] == "" || ready["pid"] != float64(os.Getpid()) {
		t.Fatalf("ready file %s", data)
	}
	resp, err := http.Get("http://" + ready["http"].(string) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(p.readyFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ready file after shutdown: %v", err)
	}
}

// serveProcess runs "runnel serve" as a process on listeners of its own,
// with its own data dir and args, until the test ends: the broker's
// client address, and its stderr.
func serveProcess(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	dir := t.TempDir()
	socks := []net.Listener{listen(t), listen(t), listen(t)}
	ready := filepath.Join(dir, "ready.json")
	cmd, log := startActivated(t, "grpc:http:peer", socks, append([]string{"--data-dir", filepath.Join(dir, "data"), "--ready-file", ready}, args...)...)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	})
	waitReadyFile(t, ready, exited, log)
	return socks[0].Addr().String(), log
}

// inProcess is a runnel command (serve, sidecar) run in the test's own
// process, started by startInProcess once it wrote its ready file.
type inProcess struct {
	readyFile string
	ready     []byte // the ready file's content
	stderr    *lockedBuffer
	cancel    context.CancelFunc
	done      chan error
}

// startInProcess runs runnel with args and a --ready-file of its own,
// and waits for the ready file; the command stops when the test ends, if
// stop has not stopped it before.
func startInProcess(t *testing.T, args ...string) *inProcess {
	t.Helper()
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{readyFile: readyFile, stderr: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	root := newRootCommand()
	root.SetArgs(append(args, "--ready-file", readyFile))
	root.SetErr(p.stderr)
	go func() { p.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() { _ = p.stop() })
	p.ready = waitReadyFile(t, readyFile, p.done, p.stderr)
	return p
}

// serveInProcess is startInProcess of runnel serve on a data dir of its
// own and listeners on free ports, with extra flags.
func serveInProcess(t *testing.T, extra ...string) *inProcess {
	t.Helper()
	return startInProcess(t, append([]string{"serve", "--data-dir", t.TempDir(),
		"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"}, extra...)...)
}

// addrs are the ready file's addresses.
func (p *inProcess) addrs(t *testing.T) (ready struct{ GRPC, HTTP string }) {
	t.Helper()
	if err := json.Unmarshal(p.ready, &ready); err != nil {
		t.Fatalf("ready file %q: %v", p.ready, err)
	}
	return ready
}

// stop cancels the command and returns what it returned.
func (p *inProcess) stop() error {
	p.cancel()
	if err, ok := <-p.done; ok {
		close(p.done)
		return err
	}
	return nil
}
