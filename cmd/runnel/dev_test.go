package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/server"
)

func TestPlanDev(t *testing.T) {
	for _, tc := range []struct {
		brokers, base int
		host          string
		want          []devPorts
		err           string
	}{
		{3, 7400, "127.0.0.1", []devPorts{{7400, 7401, 7402}, {7410, 7411, 7412}, {7420, 7421, 7422}}, ""},
		{1, 9000, "localhost", []devPorts{{9000, 9001, 9002}}, ""},
		{2, 0, "127.0.0.1", []devPorts{{0, 0, 0}, {0, 0, 0}}, ""},
		{9, 65535 - 82, "::1", nil, ""},
		{0, 7400, "127.0.0.1", nil, "--brokers 0: run 1 to 9 brokers"},
		{10, 7400, "127.0.0.1", nil, "--brokers 10: run 1 to 9 brokers"},
		{3, 65520, "127.0.0.1", nil, "--base-port 65520: 3 brokers need ports 65520 to 65542: pick a base from 1024 to 65513"},
		{3, 80, "127.0.0.1", nil, "--base-port 80: 3 brokers need ports 80 to 102"},
		{3, -1, "127.0.0.1", nil, "--base-port -1"},
		{3, 7400, "0.0.0.0", nil, `--host "0.0.0.0": the brokers tell each other and clients this address`},
		{3, 7400, "::", nil, `--host "::"`},
		{3, 7400, "", nil, `--host ""`},
	} {
		t.Run(fmt.Sprintf("%d@%s:%d", tc.brokers, tc.host, tc.base), func(t *testing.T) {
			plan, err := planDev(tc.brokers, tc.base, tc.host)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("planDev: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.brokers) != tc.brokers || tc.want != nil && fmt.Sprint(plan.brokers) != fmt.Sprint(tc.want) {
				t.Fatalf("planDev: %v, want %v", plan.brokers, tc.want)
			}
		})
	}
}

// TestPrepareDevDataDir: --fresh wipes the brokers' data only in a
// directory runnel dev made, and a directory made for n brokers refuses
// another number.
func TestPrepareDevDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	if err := prepareDevDataDir(dir, 3, true /* fresh */); err != nil {
		t.Fatalf("fresh, missing directory: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "broker-1", "meta"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := prepareDevDataDir(dir, 3, false); err != nil {
		t.Fatalf("again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "broker-1", "meta")); err != nil {
		t.Fatalf("without --fresh the data went: %v", err)
	}
	if err := prepareDevDataDir(dir, 2, false); err == nil || !strings.Contains(err.Error(), "holds the data of a 3-broker cluster, which refuses to become one of 2: run with --brokers 3, or --fresh") {
		t.Fatalf("2 brokers in a 3-broker directory: %v", err)
	}
	if err := prepareDevDataDir(dir, 2, true /* fresh */); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "broker-1")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("--fresh left broker-1: %v", err)
	}

	theirs := t.TempDir()
	if err := os.WriteFile(filepath.Join(theirs, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(theirs, "broker-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := prepareDevDataDir(theirs, 3, true /* fresh */); err == nil || !strings.Contains(err.Error(), "does not look like runnel dev's (it holds no .runnel-dev file), so it is left alone") {
		t.Fatalf("fresh in a directory not ours: %v", err)
	}
	if _, err := os.Stat(filepath.Join(theirs, "broker-1")); err != nil {
		t.Fatalf("--fresh wiped a directory not ours: %v", err)
	}
	if err := prepareDevDataDir(theirs, 3, false); err != nil {
		t.Fatalf("a directory not ours, without --fresh: %v", err)
	}
	if _, err := os.Stat(filepath.Join(theirs, devMarker)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a directory not ours was marked ours: %v", err)
	}
}

// TestDevPortInUse: a port of the plan in use fails at once, naming it
// and the flag that moves it, before anything is started or written.
func TestDevPortInUse(t *testing.T) {
	taken := listen(t)
	port := taken.Addr().(*net.TCPAddr).Port
	dataDir := filepath.Join(t.TempDir(), "dev")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := run(ctx, "", "dev", "--base-port", strconv.Itoa(port), "--data-dir", dataDir)
	want := fmt.Sprintf("broker 1's gRPC port, 127.0.0.1:%d, is in use (another broker, or runnel dev, running?): stop what holds it, or move the brokers' ports with --base-port", port)
	if err == nil || err.Error() != want {
		t.Fatalf("runnel dev on a port in use: %v, want %q", err, want)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the data directory was made: %v", err)
	}
}

// devProcess is a runnel dev process of this test binary (asRunnel).
type devProcess struct {
	cmd     *exec.Cmd
	dataDir string
	stderr  *lockedBuffer
	exited  chan struct{} // closed once it exited, err then set
	err     error
	// table is its table of brokers, once printed: rows of NODE, GRPC,
	// HTTP, PEER, DATA DIR.
	table [][]string
	// pids are the brokers' pids, from their ready files.
	pids []int
}

// startDev starts runnel dev on ports the kernel chooses, with args, and
// waits until it printed its table (at most 60s).
func startDev(t *testing.T, args ...string) *devProcess {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &devProcess{dataDir: filepath.Join(t.TempDir(), "dev"), stderr: new(lockedBuffer), exited: make(chan struct{})}
	d.cmd = exec.Command(self, append([]string{"dev", "--base-port", "0", "--data-dir", d.dataDir}, args...)...)
	d.cmd.Env = append(os.Environ(), asRunnel+"=1")
	d.cmd.Stderr = d.stderr
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tableDone := make(chan [][]string, 1)
	go func() {
		var table [][]string
		in := false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "NODE "):
				in = true
			case in && line == "":
				in = false
				tableDone <- table
			case in:
				table = append(table, strings.Fields(line))
			}
		}
		close(tableDone)
	}()
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-d.exited:
		case <-time.After(60 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		for _, pid := range d.pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // a test that failed may leave them
		}
		if t.Failed() {
			t.Logf("runnel dev stderr:\n%s", d.stderr.String())
		}
	})
	select {
	case table, ok := <-tableDone:
		if !ok {
			<-d.exited
			t.Fatalf("runnel dev exited (%v) without a table; stderr:\n%s", d.err, d.stderr.String())
		}
		d.table = table
	case <-time.After(60 * time.Second):
		t.Fatalf("no table from runnel dev within 60s; stderr:\n%s", d.stderr.String())
	}
	for i, row := range d.table {
		data, err := os.ReadFile(filepath.Join(d.dataDir, fmt.Sprintf("broker-%d.ready.json", i+1)))
		if err != nil {
			t.Fatalf("broker %d's ready file: %v", i+1, err)
		}
		var info server.ReadyInfo
		if err := json.Unmarshal(data, &info); err != nil {
			t.Fatal(err)
		}
		if want := []string{strconv.Itoa(i + 1), info.GRPC, info.HTTP, info.Peer, filepath.Join(d.dataDir, fmt.Sprintf("broker-%d", i+1))}; strings.Join(row, " ") != strings.Join(want, " ") {
			t.Fatalf("table row %q, want %q (its ready file)", row, want)
		}
		d.pids = append(d.pids, info.PID)
	}
	return d
}

// wait waits at most timeout for runnel dev to exit, and returns its
// exit code.
func (d *devProcess) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		t.Fatalf("runnel dev still runs after %s; stderr:\n%s", timeout, d.stderr.String())
	}
	return d.cmd.ProcessState.ExitCode()
}

// waitGone waits at most 10s for every pid to be gone: no such process,
// or a zombie (dead, its parent gone, waiting for init to reap it).
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("brokers %v gone", pids), func() bool {
		for _, pid := range pids {
			if !processGone(pid) {
				return false
			}
		}
		return true
	})
}

func processGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	// NB: "pid (comm) state ...", and comm may hold spaces or parentheses.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

// TestDevCluster runs runnel dev with 3 brokers, uses the cluster through
// the addresses of its table, and stops it with SIGINT: every broker
// stops, and runnel dev exits 0.
func TestDevCluster(t *testing.T) {
	d := startDev(t, "--brokers", "3")
	if len(d.table) != 3 {
		t.Fatalf("table %q: want 3 brokers", d.table)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := run(ctx, stdin, args...)
		if err != nil {
			t.Fatalf("runnel %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), describeError(err), out, errOut)
		}
		return out
	}
	must("", "topic", "create", "demo", "--partitions", "3", "--replication-factor", "3", "--broker", d.table[0][1])
	must("a\nb\nc\n", "produce", "demo", "--partition", "1", "--broker", d.table[1][1])
	if out := must("", "consume", "demo", "--broker", d.table[2][1]); out != "a\nb\nc\n" {
		t.Fatalf("consume through broker 3: %q", out)
	}
	if out := must("", "cluster", "describe", "--broker", d.table[0][1]); strings.Count(out, "online") != 3 {
		t.Fatalf("cluster describe:\n%s", out)
	}

	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("runnel dev exited %d after SIGINT; stderr:\n%s", code, d.stderr.String())
	}
	waitGone(t, d.pids)
	for i := range d.pids {
		if want := fmt.Sprintf("[broker %d] ", i+1); !strings.Contains(d.stderr.String(), want+"time=") || !strings.Contains(d.stderr.String(), want) {
			t.Fatalf("no log line prefixed %q:\n%s", want, d.stderr.String())
		}
	}
	if log := d.stderr.String(); !strings.Contains(log, "[runnel dev] all brokers stopped") || !strings.Contains(log, `msg="runnel stopped"`) {
		t.Fatalf("runnel dev stderr:\n%s", log)
	}
}

// TestDevBrokerDies: a broker that exits on its own is reported, and the
// others stopped, and runnel dev fails.
func TestDevBrokerDies(t *testing.T) {
	d := startDev(t, "--brokers", "3")
	if err := syscall.Kill(d.pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t, 60*time.Second); code != 1 {
		t.Fatalf("runnel dev exited %d after a broker's death; stderr:\n%s", code, d.stderr.String())
	}
	waitGone(t, d.pids)
	if want := "Error: broker 2 exited on its own (signal: killed); its log is above, prefixed [broker 2]"; !strings.Contains(d.stderr.String(), want) {
		t.Fatalf("stderr does not say %q:\n%s", want, d.stderr.String())
	}
}

// TestPrefixWriter: whole lines only, each after the prefix, whatever the
// writes' boundaries; a last line not ended comes at flush; a destination
// that fails is ignored, so that the broker writing keeps going.
func TestPrefixWriter(t *testing.T) {
	var out strings.Builder
	p := &prefixWriter{prefix: "[b] ", w: &out}
	for _, chunk := range []string{"one\ntw", "o\n", "", "three\nfour\nfi", "ve"} {
		if n, err := p.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if want := "[b] one\n[b] two\n[b] three\n[b] four\n"; out.String() != want {
		t.Fatalf("before flush: %q, want %q", out.String(), want)
	}
	p.flush()
	if want := "[b] one\n[b] two\n[b] three\n[b] four\n[b] five\n"; out.String() != want {
		t.Fatalf("after flush: %q, want %q", out.String(), want)
	}
	broken := &prefixWriter{prefix: "[b] ", w: failingWriter{}}
	if n, err := broken.Write([]byte("a\nb\n")); n != 4 || err != nil {
		t.Fatalf("Write to a broken destination = %d, %v; want 4, nil", n, err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, syscall.EIO }

func TestBrokerEnv(t *testing.T) {
	got := brokerEnv([]string{"PATH=/bin", "LISTEN_PID=1", "LISTEN_FDS=3", "LISTEN_FDNAMES=x", "RUNNEL_JOIN=h:1",
		"RUNNEL_ADVERTISE=h:2", "RUNNEL_ADVERTISE_PEER=h:3", "RUNNEL_GROUP_SESSION_TIMEOUT=5s"})
	if want := "PATH=/bin RUNNEL_GROUP_SESSION_TIMEOUT=5s"; strings.Join(got, " ") != want {
		t.Fatalf("brokerEnv: %q, want %q", got, want)
	}
}
