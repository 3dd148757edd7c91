package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// asRunnel is the environment variable that makes this test binary run
// as runnel itself (TestMain), so that a test can start it as a child
// process, which socket activation needs: the sockets are fds 3 on and
// LISTEN_PID must be the broker's own pid.
const asRunnel = "RUNNEL_TEST_AS_RUNNEL"

func TestMain(m *testing.M) {
	if os.Getenv(asRunnel) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startActivated starts this binary as runnel serve with args, passing
// listeners as fds 3 on named by fdNames (LISTEN_FDNAMES), and LISTEN_PID
// set to its pid by the shell it execs from, as the e2e harness does.
func startActivated(t *testing.T, fdNames string, listeners []net.Listener, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, self, "serve"}, args...)...)
	cmd.Env = append(os.Environ(), asRunnel+"=1", "LISTEN_FDS="+strconv.Itoa(len(listeners)), "LISTEN_FDNAMES="+fdNames)
	for _, l := range listeners {
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close() // NB: the child has its copy once started
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	stderr := new(lockedBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stderr
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestServeSocketActivation passes runnel serve its three listeners bound
// by the test (the flags name port 0, which the passed sockets override),
// checks that it serves on them, then kills it and starts it again on the
// same sockets, which stay bound in between.
func TestServeSocketActivation(t *testing.T) {
	grpcLis, httpLis, peerLis := listen(t), listen(t), listen(t)
	dataDir := t.TempDir()
	for run := range 2 {
		readyFile := filepath.Join(t.TempDir(), "ready.json")
		cmd, stderr := startActivated(t, "grpc:http:peer", []net.Listener{grpcLis, httpLis, peerLis},
			"--data-dir", dataDir, "--ready-file", readyFile,
			"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0")
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		data := waitReadyFile(t, readyFile, exited, stderr)
		var ready map[string]any
		if err := json.Unmarshal(data, &ready); err != nil {
			t.Fatalf("ready file %q: %v", data, err)
		}
		for key, l := range map[string]net.Listener{"grpc": grpcLis, "http": httpLis, "peer": peerLis} {
			if ready[key] != l.Addr().String() {
				t.Fatalf("run %d: ready file %s is %v, want the passed socket's %s", run, key, ready[key], l.Addr())
			}
		}
		if ready["pid"] != float64(cmd.Process.Pid) {
			t.Fatalf("run %d: ready file pid %v, want %d (exec keeps the shell's pid)", run, ready["pid"], cmd.Process.Pid)
		}
		resp, err := http.Get("http://" + httpLis.Addr().String() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("run %d: healthz: %s", run, resp.Status)
		}
		if !strings.Contains(stderr.String(), "socket activation") {
			t.Fatalf("run %d: no log line of the passed sockets:\n%s", run, stderr.String())
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-exited
	}
}

// TestServeSocketActivationUnknownName: a socket under a name runnel
// serve does not take fails the start, saying which names it takes.
func TestServeSocketActivationUnknownName(t *testing.T) {
	cmd, stderr := startActivated(t, "grpc:metrics", []net.Listener{listen(t), listen(t)},
		"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			t.Fatalf("serve started with a socket named metrics; stderr:\n%s", stderr.String())
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		t.Fatalf("serve still runs with a socket named metrics; stderr:\n%s", stderr.String())
	}
	const want = `socket activation: a socket named "metrics" (LISTEN_FDNAMES): runnel serve takes grpc, http, peer`
	if !strings.Contains(stderr.String(), want) {
		t.Fatalf("stderr does not say %q:\n%s", want, stderr.String())
	}
}
