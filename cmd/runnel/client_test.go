package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
)

// testBroker is a runnel serve process of this test binary (asRunnel).
type testBroker struct {
	addr   string
	peer   string // its peer listener's address
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan error
}

func (b *testBroker) kill() {
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err == nil {
		<-b.exited
	}
}

// startCluster starts n brokers, node ids 1 to n, on listeners the test
// binds first (socket activation) so that every --peers is known before
// any broker runs, and waits until each serves. Its copies of the
// listeners are closed then, so that a killed broker's port refuses
// connections, as a dead machine's would.
func startCluster(t *testing.T, n int) []*testBroker {
	t.Helper()
	type socks struct{ grpc, http, peer net.Listener }
	all := make([]socks, n)
	var peers []string
	for i := range all {
		all[i] = socks{listen(t), listen(t), listen(t)}
		peers = append(peers, fmt.Sprintf("%d=%s", i+1, all[i].peer.Addr()))
	}
	dir := t.TempDir()
	var brokers []*testBroker
	var ready []string
	for i, s := range all {
		readyFile := filepath.Join(dir, fmt.Sprintf("ready-%d.json", i+1))
		ready = append(ready, readyFile)
		cmd, log := startActivated(t, "grpc:http:peer", []net.Listener{s.grpc, s.http, s.peer},
			"--node-id", fmt.Sprint(i+1), "--data-dir", filepath.Join(dir, fmt.Sprintf("broker-%d", i+1)), "--ready-file", readyFile,
			"--advertise", s.grpc.Addr().String(), "--peers", strings.Join(peers, ","))
		b := &testBroker{addr: s.grpc.Addr().String(), peer: s.peer.Addr().String(), cmd: cmd, log: log, exited: make(chan error, 1)}
		go func() { b.exited <- cmd.Wait(); close(b.exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-b.exited:
			case <-time.After(30 * time.Second):
				b.kill()
			}
			if t.Failed() {
				t.Logf("broker %d log:\n%s", i+1, log.String())
			}
		})
		brokers = append(brokers, b)
	}
	for i, b := range brokers {
		waitReadyFile(t, ready[i], b.exited, b.log)
	}
	for _, s := range all {
		s.grpc.Close()
		s.http.Close()
		s.peer.Close()
	}
	return brokers
}

// run runs the runnel command line args with stdin, within ctx,
// returning what it wrote to stdout and to stderr.
func run(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errOut lockedBuffer
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func addrs(brokers ...*testBroker) string {
	var out []string
	for _, b := range brokers {
		out = append(out, b.addr)
	}
	return strings.Join(out, ",")
}

// waitFor polls cond every 50ms until it holds, for at most timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrokerListWithTheFirstBrokerDown: in a 3-broker cluster whose first
// broker is killed, every client command given several --broker
// addresses (or RUNNEL_BROKER) works through the others.
func TestBrokerListWithTheFirstBrokerDown(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := run(ctx, stdin, args...)
		if err != nil {
			t.Fatalf("runnel %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), describeError(err), out, errOut)
		}
		return out + errOut
	}
	all := addrs(brokers...)
	must("", "topic", "create", "orders", "--partitions", "2", "--replication-factor", "3", "--broker", all)
	must("a\nb\nc\n", "produce", "orders", "--partition", "0", "--broker", all)

	brokers[0].kill()
	list := addrs(brokers[0], brokers[1])
	if out := must("", "topic", "describe", "orders", "--broker", list); !strings.Contains(out, "Topic: orders") || !strings.Contains(out, "Replication: 3") {
		t.Fatalf("topic describe:\n%s", out)
	}
	if out := must("", "topic", "list", "--broker", list); !strings.Contains(out, "orders  2") {
		t.Fatalf("topic list:\n%s", out)
	}
	if out := must("", "cluster", "describe", "--broker", list); strings.Count(out, "127.0.0.1:") != 3 {
		t.Fatalf("cluster describe:\n%s", out)
	}
	must("", "group", "list", "--broker", list)
	// NB: a partition broker 1 led is unavailable until the survivors
	// elect another leader: the producer retries meanwhile.
	if out := must("d\ne\n", "produce", "orders", "--partition", "0", "--broker", list); !strings.Contains(out, "produced 2 record(s) to orders") {
		t.Fatalf("produce:\n%s", out)
	}
	if out := must("", "consume", "orders", "--partition", "0", "--from", "earliest", "--broker", list); out != "a\nb\nc\nd\ne\n" {
		t.Fatalf("consume: %q", out)
	}
	waitFor(t, time.Minute, "a group commit through broker 2", func() bool {
		_, _, err := run(ctx, "", "consume", "orders", "--partition", "0", "--from", "earliest", "--group", "g", "--broker", list)
		return err == nil
	})
	if out := must("", "group", "describe", "g", "--broker", list); !strings.Contains(out, "Group: g") {
		t.Fatalf("group describe:\n%s", out)
	}

	t.Setenv("RUNNEL_BROKER", list)
	if out := must("", "topic", "describe", "orders"); !strings.Contains(out, "Topic: orders") {
		t.Fatalf("topic describe, RUNNEL_BROKER=%s:\n%s", list, out)
	}

	// Every broker listed down: the error names each.
	_, _, err := run(ctx, "", "topic", "list", "--broker", brokers[0].addr+",127.0.0.1:1")
	if err == nil || status.Code(err) != codes.Unavailable || !strings.Contains(describeError(err), brokers[0].addr) || !strings.Contains(describeError(err), "127.0.0.1:1") {
		t.Fatalf("topic list, no broker up: %v", err)
	}
	t.Logf("no broker up: %s", describeError(err))
}

func TestParseBrokers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "127.0.0.1:7400", want: []string{"127.0.0.1:7400"}},
		{in: "127.0.0.1:7400,127.0.0.1:7401", want: []string{"127.0.0.1:7400", "127.0.0.1:7401"}},
		{in: " b1:7400 , b2:7400,b1:7400", want: []string{"b1:7400", "b2:7400"}},
		{in: "[::1]:7400,localhost:7401", want: []string{"[::1]:7400", "localhost:7401"}},
		{in: "", err: "an empty address"},
		{in: "a:1,,b:2", err: "an empty address"},
		{in: "a:1,", err: "an empty address"},
		{in: "localhost", err: `"localhost": missing port in address: want host:port`},
		{in: "::1:7400", err: `"::1:7400": too many colons in address: want host:port (an IPv6 host in brackets, [::1]:7400)`},
		{in: ":7400", err: `":7400": no host`},
		{in: "a:0", err: `"a:0": port "0": want a number from 1 to 65535`},
		{in: "a:http", err: `"a:http": port "http": want a number`},
		{in: "a:70000", err: `port "70000"`},
	} {
		got, err := parseBrokers(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseBrokers(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseBrokers(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestBrokerFlagBadInput: a bad --broker or RUNNEL_BROKER is refused
// before anything is dialed, naming the address and the usage.
func TestBrokerFlagBadInput(t *testing.T) {
	_, err := execute(t, "topic", "list", "--broker", "127.0.0.1:7400,localhost")
	if err == nil || !strings.Contains(err.Error(), `invalid argument "127.0.0.1:7400,localhost" for "--broker" flag: "localhost": missing port in address`) ||
		!strings.Contains(err.Error(), "Usage: runnel topic list [flags]") {
		t.Fatalf("--broker with a bad address: %v", err)
	}
	t.Setenv("RUNNEL_BROKER", "b1:7400,,b2:7400")
	_, err = execute(t, "topic", "list")
	if err == nil || !strings.Contains(err.Error(), `RUNNEL_BROKER="b1:7400,,b2:7400": invalid argument "b1:7400,,b2:7400" for "--broker" flag: an empty address`) {
		t.Fatalf("RUNNEL_BROKER with an empty address: %v", err)
	}
}

// TestDescribeWrappedStatus: a status inside another error (a record's,
// a list of brokers') is shown by its code's name where it stands.
func TestDescribeWrappedStatus(t *testing.T) {
	rec := &client.RecordError{Record: &client.Record{Topic: "t"}, Partition: 2, Culprit: -1,
		Err: status.Error(codes.NotFound, `topic "t" does not exist`)}
	if got, want := describeError(rec), `runnel: record t/2 not appended: NOT_FOUND: topic "t" does not exist`; got != want {
		t.Errorf("describeError(RecordError) = %q, want %q", got, want)
	}
	joined := fmt.Errorf("client.New: no broker answered: a:1: %w", status.Error(codes.Unavailable, "connection refused"))
	if got, want := describeError(joined), "client.New: no broker answered: a:1: UNAVAILABLE: connection refused"; got != want {
		t.Errorf("describeError(wrapped) = %q, want %q", got, want)
	}
	inner := status.Error(codes.Unavailable, "a: "+status.Error(codes.DeadlineExceeded, "late").Error())
	if got, want := describeError(inner), "UNAVAILABLE: a: DEADLINE_EXCEEDED: late"; got != want {
		t.Errorf("describeError(a status in a status) = %q, want %q", got, want)
	}
}

// startBench runs runnel bench produce with args in the background,
// and waits until the topic has records; the returned channel gives
// what it printed once it returns.
func startBench(t *testing.T, ctx context.Context, adm *client.Admin, topic string, args ...string) <-chan benchRun {
	t.Helper()
	done := make(chan benchRun, 1)
	go func() {
		start := time.Now()
		out, errOut, err := run(ctx, "", append([]string{"bench", "produce", "--topic", topic, "--progress", "100ms",
			"--record-size", "100", "--batch-bytes", "10000"}, args...)...)
		done <- benchRun{out, errOut, err, time.Since(start)}
	}()
	waitFor(t, time.Minute, "the bench's first records", func() bool {
		d, err := adm.DescribeTopic(ctx, topic)
		return err == nil && len(d.Partitions) > 0 && d.Partitions[0].HighWatermark > 0
	})
	return done
}

type benchRun struct {
	stdout, stderr string
	err            error
	took           time.Duration
}

// newAdmin connects to the brokers at addrs (comma-separated).
func newAdmin(t *testing.T, ctx context.Context, addrs string) *client.Admin {
	t.Helper()
	c, err := client.New(ctx, strings.Split(addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return client.NewAdmin(c)
}

// TestBenchSummaryWhenTheTopicIsDeleted: the topic the bench writes is
// deleted under it: the bench stops at the first failed record, and
// prints its summary with the failures counted by error.
func TestBenchSummaryWhenTheTopicIsDeleted(t *testing.T) {
	b := startCluster(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := newAdmin(t, ctx, b.addr)
	done := startBench(t, ctx, adm, "doomed", "--broker", b.addr, "--duration", "2m")
	if err := adm.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	t.Logf("stdout:\n%s", r.stdout)
	if r.err == nil || status.Code(r.err) != codes.NotFound {
		t.Fatalf("bench after its topic's deletion: %v, want NOT_FOUND", r.err)
	}
	if r.took > time.Minute {
		t.Fatalf("the bench took %s: it did not stop at the failure", r.took)
	}
	for _, want := range []string{"produce: ", "ack latency: p50", "failed records: ", "\nfailed: ", "NOT_FOUND: topic \"doomed\""} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the summary lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "produce: 0 records") {
		t.Errorf("no record acknowledged before the deletion:\n%s", r.stdout)
	}
}

// TestBenchSummaryWhenInterrupted: an interrupted bench waits for its
// records in flight and prints its summary, and says it was interrupted.
func TestBenchSummaryWhenInterrupted(t *testing.T) {
	b := startCluster(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := newAdmin(t, ctx, b.addr)
	benchCtx, interrupt := context.WithCancel(ctx)
	done := startBench(t, benchCtx, adm, "cut", "--broker", b.addr, "--duration", "2m")
	interrupt()
	r := <-done
	t.Logf("stdout:\n%s", r.stdout)
	if r.err != nil {
		t.Fatalf("interrupted bench: %v", r.err)
	}
	for _, want := range []string{"produce: ", "ack latency: p50", "failed records: 0", "interrupted after "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the summary lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "produce: 0 records") || strings.Contains(r.stdout, "\nfailed: ") {
		t.Errorf("want acknowledged records and no failure:\n%s", r.stdout)
	}
}

// TestBenchGoesOnThroughALeaderKill: the leader of the bench's partition
// is killed midway; the producers retry on the new leader, no record
// fails, and the summary counts the retried batches.
func TestBenchGoesOnThroughALeaderKill(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := newAdmin(t, ctx, addrs(brokers...))
	if _, err := adm.CreateTopic(ctx, "moving", 1, 3, nil); err != nil {
		t.Fatal(err)
	}
	benchCtx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	done := startBench(t, benchCtx, adm, "moving", "--broker", addrs(brokers...), "--duration", "2m", "--keep-going")
	d, err := adm.DescribeTopic(ctx, "moving")
	if err != nil {
		t.Fatal(err)
	}
	leader := d.Partitions[0].Leader
	brokers[leader-1].kill()
	killedAt := d.Partitions[0].HighWatermark
	waitFor(t, 2*time.Minute, "records acknowledged by the next leader", func() bool {
		d, err := adm.DescribeTopic(ctx, "moving")
		return err == nil && d.Partitions[0].Leader != 0 && d.Partitions[0].Leader != leader && d.Partitions[0].HighWatermark > killedAt+1000
	})
	interrupt()
	r := <-done
	t.Logf("stdout:\n%s", r.stdout)
	if r.err != nil {
		t.Fatalf("bench: %v", r.err)
	}
	for _, want := range []string{"failed records: 0", "interrupted after "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the summary lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "batches retried: 0\n") {
		t.Errorf("no batch retried, though broker %d led the partition when it was killed:\n%s", leader, r.stdout)
	}
}
