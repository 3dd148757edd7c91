package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDevHints runs the built runnel dev on ports the kernel chooses and
// the commands it prints for another terminal, as printed: they reach the
// cluster it started. Ctrl-C (SIGINT) then stops it, exit code 0.
func TestDevHints(t *testing.T) {
	cmd := exec.Command(bins.runnel, "dev", "--base-port", "0", "--data-dir", filepath.Join(t.TempDir(), "dev"))
	var stderrMu sync.Mutex
	var stderrBuf strings.Builder
	cmd.Stderr = &lockedWriter{&stderrMu, &stderrBuf}
	stderr := func() string {
		stderrMu.Lock()
		defer stderrMu.Unlock()
		return stderrBuf.String()
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // NB: a no-op once it exited; its brokers die with it
		if t.Failed() {
			t.Logf("runnel dev stderr:\n%s", stderr())
		}
	})
	hints := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "  ") {
				lines = append(lines, strings.TrimSpace(line))
			} else if line == "Ctrl-C stops them." {
				hints <- lines
			}
		}
		close(hints)
	}()
	var lines []string
	select {
	case l, ok := <-hints:
		if !ok {
			t.Fatalf("runnel dev exited (%v) before its hints", <-exited)
		}
		lines = l
	case <-time.After(60 * time.Second):
		t.Fatal("no hints from runnel dev within 60s")
	}
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "export RUNNEL_BROKER=") {
		t.Fatalf("hints %q: want export RUNNEL_BROKER=..., then two runnel commands", lines)
	}
	script := lines[0]
	for _, l := range lines[1:] {
		script += "\n" + bins.runnel + strings.TrimPrefix(l, "runnel")
	}
	out, err := runShell(t, os.Environ(), script)
	if err != nil {
		t.Fatalf("the hints:\n%s\nfailed: %v\n%s", script, err, out)
	}
	if !strings.Contains(out, "created topic demo with 3 partition(s)") || strings.Count(out, "  online  ") != 3 {
		t.Fatalf("the hints printed:\n%s", out)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("runnel dev after SIGINT: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("runnel dev still runs 60s after SIGINT")
	}
	if !strings.Contains(stderr(), "[runnel dev] all brokers stopped") {
		t.Fatalf("runnel dev stderr:\n%s", stderr())
	}
}
