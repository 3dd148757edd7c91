package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestCLI drives the runnel CLI against a broker process: the commands
// and flags the README lists, and their errors.
func TestCLI(t *testing.T) {
	b := startBroker(t, t.TempDir())
	env := append(os.Environ(), "RUNNEL_BROKER="+b.addr)
	sh := func(command string) string {
		t.Helper()
		out, err := runShell(t, env, command)
		if err != nil {
			t.Fatalf("%s: %v\n%s", command, err, out)
		}
		return out
	}
	r := bins.runnel
	sh(r + " topic create events --partitions 2 --config retention.ms=3600000")
	if out := sh(r + " topic list"); !strings.Contains(out, "events  2") {
		t.Fatalf("topic list:\n%s", out)
	}
	if out := sh(r + " topic describe events"); !strings.Contains(out, "retention.ms=3600000") {
		t.Fatalf("topic describe:\n%s", out)
	}
	sh("seq 1 10 | " + r + " produce events --partition 1")
	sh("echo keyed | " + r + " produce events --key k1")

	// --from OFFSET, -n, --format json, --partition.
	out := sh(r + " consume events --partition 1 --from 3 -n 2 --format json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("consume -n 2 printed %d lines:\n%s", len(lines), out)
	}
	var rec struct {
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		Value     string `json:"value"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec.Offset != 3 || rec.Value != "4" || rec.Partition != 1 {
		t.Fatalf("first JSON record %q: %+v %v", lines[0], rec, err)
	}
	if out := sh(r + " consume events --from latest"); strings.TrimSpace(out) != "" {
		t.Fatalf("consume --from latest printed %q", out)
	}

	// Errors exit non-zero with the status code and message.
	for _, tc := range []struct{ command, want string }{
		{r + " consume nope", "Error: NOT_FOUND: "},
		{r + " topic create events --partitions 1", "Error: ALREADY_EXISTS: "},
		{r + " topic create 'bad name'", "Error: INVALID_ARGUMENT: "},
		{r + " consume events --from 99 --partition 1", "Error: OUT_OF_RANGE: "},
		{r + " consume events --from sometime", "want earliest, latest or an offset"},
	} {
		out, err := runShell(t, env, tc.command)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: err=%v, output %q; want failure mentioning %q", tc.command, err, out, tc.want)
		}
	}

	sh(r + " topic delete events")
	if out := sh(r + " topic list"); strings.Contains(out, "events") {
		t.Fatalf("deleted topic still listed:\n%s", out)
	}
}

// TestBench runs both benchmarks briefly and checks they report what
// docs/benchmarks.md quotes.
func TestBench(t *testing.T) {
	b := startBroker(t, t.TempDir())
	env := append(os.Environ(), "RUNNEL_BROKER="+b.addr)
	out, err := runShell(t, env, bins.runnel+" bench produce --duration 1s --progress 200ms --record-size 100 --batch-bytes 10000")
	if err != nil {
		t.Fatalf("bench produce: %v\n%s", err, out)
	}
	for _, want := range []string{"records/s", "MB/s", "ack latency: p50", "p99", "p999", "records  "} {
		if !strings.Contains(out, want) {
			t.Errorf("bench produce output lacks %q:\n%s", want, out)
		}
	}
	out, err = runShell(t, env, bins.runnel+" bench consume")
	if err != nil || !strings.Contains(out, "consume: ") || strings.Contains(out, "consume: 0 records") {
		t.Fatalf("bench consume: %v\n%s", err, out)
	}
}

// TestGracefulShutdown stops the broker with SIGTERM: it exits 0 and the
// data is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	env := append(os.Environ(), "RUNNEL_BROKER="+b.addr)
	if out, err := runShell(t, env, bins.runnel+" topic create t && seq 1 100 | "+bins.runnel+" produce t"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b.stop()
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("broker exited with %d after SIGTERM:\n%s", code, b.logs())
	}
	if !strings.Contains(b.logs(), "runnel stopped") {
		t.Fatalf("no clean shutdown in the log:\n%s", b.logs())
	}
	b = startBroker(t, dir)
	env = append(os.Environ(), "RUNNEL_BROKER="+b.addr)
	out, err := runShell(t, env, bins.runnel+" consume t | wc -l")
	if err != nil || strings.TrimSpace(out) != "100" {
		t.Fatalf("after restart: %q %v", out, err)
	}
}
