package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/partitioner"
)

// sidecarProc is a runnel sidecar process behind a proxy whose address,
// fixed across restarts, is what the application dials (and what the
// sidecar advertises).
type sidecarProc struct {
	t        *testing.T
	dataDir  string
	upstream []string
	front    *proxy
	cmd      *exec.Cmd
	exited   chan struct{}
	http     string
	logMu    sync.Mutex
	log      strings.Builder
}

func startSidecarProc(t *testing.T, upstream []string) *sidecarProc {
	s := &sidecarProc{t: t, dataDir: filepath.Join(t.TempDir(), "sidecar"), upstream: upstream, front: startProxy(t, "")}
	s.launch()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("sidecar log:\n%s", s.logs())
		}
	})
	return s
}

func (s *sidecarProc) launch() {
	s.t.Helper()
	ready := filepath.Join(s.t.TempDir(), "sidecar.ready")
	s.cmd = exec.Command(bins.runnel, "sidecar", "--upstream", strings.Join(s.upstream, ","), "--listen", "127.0.0.1:0",
		"--http-listen", "127.0.0.1:0", "--advertise", s.front.addr(), "--data-dir", s.dataDir, "--ready-file", ready)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	exited := s.exited
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.logMu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.logMu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	var info readyInfo
	waitFor(s.t, 30*time.Second, "the sidecar's ready file", func() error {
		select {
		case <-exited:
			s.t.Fatalf("the sidecar exited: %v\n%s", cmd.ProcessState, s.logs())
		default:
		}
		data, err := os.ReadFile(ready)
		if err != nil {
			return fmt.Errorf("no ready file yet (%v)", err)
		}
		return json.Unmarshal(data, &info)
	})
	s.http = info.HTTP
	s.front.setTarget(info.GRPC)
}

func (s *sidecarProc) logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// kill9 kills the sidecar with SIGKILL; the application's connections to
// it break at once, as they would.
func (s *sidecarProc) kill9() {
	s.front.setTarget("")
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (s *sidecarProc) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.t.Errorf("the sidecar did not stop within 30s of SIGTERM")
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
	}
}

// metric is the value of one of the sidecar's metrics without labels.
func (s *sidecarProc) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("the sidecar has no metric %s", name)
	return 0
}

// status is the sidecar's /status.
func (s *sidecarProc) status() (waiting int64, err error) {
	resp, err := http.Get("http://" + s.http + "/status")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		RecordsWaiting int64 `json:"records_waiting"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.RecordsWaiting, nil
}

// restartAll starts every killed broker of the cluster again, all before
// waiting for any (a broker serves once a quorum of them is up).
func (c *cluster) restartAll() {
	var started []*broker
	for i, old := range c.brokers {
		old.socks.unrefuse()
		b := launchBrokerOn(c.t, old.socks, old.dataDir, old.args...)
		b.clientOpts = c.clientOpts
		c.brokers[i] = b
		started = append(started, b)
	}
	for i, b := range started {
		b.waitServing()
		c.clientProxies[i].setTarget(b.addr)
	}
}

const sidecarTopic = "through-sidecar"

// TestSidecarThroughFaults: an application produces keyed records through
// a sidecar (the Go SDK's idempotent producer, dialing only the sidecar)
// to a 3-broker cluster while the test (1) kills every broker for 10 s
// and starts them again, (2) kill -9s the sidecar and restarts it, (3)
// kill -9s a partition's leader. The application sees no error, keeps
// being acknowledged while the cluster is down, and once the sidecar has
// forwarded everything, every record it acked is in the cluster exactly
// once, in its key's partition, in per-key order. Meanwhile a reader
// follows the topic through a second sidecar with generated stubs: its
// one stream outlives faults (1) and (3) (its sidecar resumes it), and it
// reads every record of each partition once, in order.
func TestSidecarThroughFaults(t *testing.T) {
	c := startCluster(t, 3)
	admin := c.dial(t, 0)
	ctx := context.Background()
	const partitions = 6
	if _, err := admin.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: sidecarTopic, Partitions: partitions, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	sc := startSidecarProc(t, c.addrs)
	readerSidecar := startSidecarProc(t, c.addrs)
	follower := followThrough(t, readerSidecar, partitions)
	app, err := client.New(ctx, []string{sc.front.addr()}, client.WithRequestTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	producer := app.Producer(client.WithDeliveryTimeout(5*time.Minute), client.WithLinger(2*time.Millisecond))

	keys := make([]string, 24)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%02d", i)
	}
	var (
		acked    atomic.Int64
		errMu    sync.Mutex
		appErrs  []error
		sent     = make([]int, len(keys))
		stop     = make(chan struct{})
		produced = make(chan struct{})
	)
	go func() {
		defer close(produced)
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			for k, key := range keys {
				rec := &client.Record{Topic: sidecarTopic, Key: []byte(key), Value: []byte(fmt.Sprintf("%s %d", key, sent[k]))}
				sent[k]++
				producer.Produce(ctx, rec, func(_ client.Ack, err error) {
					if err != nil {
						errMu.Lock()
						appErrs = append(appErrs, err)
						errMu.Unlock()
						return
					}
					acked.Add(1)
				})
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	waitAcked := func(what string, more int64) {
		t.Helper()
		from := acked.Load()
		waitFor(t, 60*time.Second, what, func() error {
			if n := acked.Load() - from; n < more {
				return fmt.Errorf("%d records acked", n)
			}
			return nil
		})
	}
	waitAcked("records acked before the faults", 2000)

	// (1) The whole cluster down for 10 s: the application is still acked.
	for i := range c.brokers {
		c.kill(i)
	}
	duringOutage := acked.Load()
	time.Sleep(10 * time.Second)
	duringOutage = acked.Load() - duringOutage
	c.restartAll()
	if duringOutage < 1000 {
		t.Fatalf("%d records acked during the 10 s outage: the sidecar made the application wait for the cluster", duringOutage)
	}
	waitAcked("records acked after the cluster came back", 2000)

	// (2) The sidecar killed and restarted.
	sc.kill9()
	time.Sleep(500 * time.Millisecond)
	sc.launch()
	waitAcked("records acked after the sidecar's restart", 2000)

	// (3) A partition's leader killed.
	leader := sidecarLeader(t, c, 0)
	c.kill(int(leader - 1))
	waitAcked("records acked with a leader killed", 2000)
	c.restart(int(leader - 1))
	waitAcked("records acked after its restart", 2000)

	close(stop)
	<-produced
	if err := producer.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	errMu.Lock()
	if len(appErrs) > 0 {
		t.Fatalf("the application saw %d errors, the first: %v", len(appErrs), appErrs[0])
	}
	errMu.Unlock()
	waitFor(t, 120*time.Second, "the sidecar to forward its backlog", func() error {
		n, err := sc.status()
		if err == nil && n != 0 {
			err = fmt.Errorf("%d records waiting", n)
		}
		return err
	})

	// Every acked record is in the cluster once, in order, where its key goes.
	total := 0
	next := make(map[string]int)
	inCluster := make([][]*runnelv1.Record, partitions)
	for p := range int32(partitions) {
		inCluster[p] = readPartition(t, c.addrs[0], sidecarTopic, p)
		for _, r := range inCluster[p] {
			key, _, _ := strings.Cut(string(r.Value), " ")
			if want := partitioner.ForKey([]byte(key), partitions); want != p {
				t.Fatalf("%q in partition %d, its key's partition is %d", r.Value, p, want)
			}
			if want := fmt.Sprintf("%s %d", key, next[key]); string(r.Value) != want {
				t.Fatalf("partition %d offset %d is %q, want %q: a record lost, duplicated or reordered", p, r.Offset, r.Value, want)
			}
			next[key]++
			total++
		}
	}
	for k, key := range keys {
		if next[key] != sent[k] {
			t.Fatalf("%s: %d records in the cluster, %d acked", key, next[key], sent[k])
		}
	}
	if int64(total) != acked.Load() {
		t.Fatalf("%d records in the cluster, %d acked", total, acked.Load())
	}
	follower.check(t, inCluster)
	if n := readerSidecar.metric(t, "runnel_sidecar_subscriptions_resumed_total"); n < 1 {
		t.Fatalf("the follower's sidecar resumed its subscription %v times: the faults did not break it", n)
	}
	t.Logf("%d records, %d acked during the outage", total, duringOutage)
}

// follower is an application following a topic through a sidecar, on one
// stream, with generated stubs.
type follower struct {
	mu      sync.Mutex // guards the fields below
	read    [][]*runnelv1.Record
	records int
	err     error // the stream's end
}

// followThrough starts a follower of sidecarTopic's partitions, from the
// earliest offset, through sc.
func followThrough(t *testing.T, sc *sidecarProc, partitions int) *follower {
	cl, err := client.Dial(sc.front.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := cl.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: sidecarTopic, Follow: true,
		StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST})
	if err != nil {
		t.Fatal(err)
	}
	f := &follower{read: make([][]*runnelv1.Record, partitions)}
	go func() {
		for {
			resp, err := stream.Recv()
			f.mu.Lock()
			if err != nil {
				f.err = err
				f.mu.Unlock()
				return
			}
			if b := resp.GetBatch(); b != nil {
				f.read[b.Partition] = append(f.read[b.Partition], b.Records...)
				f.records += len(b.Records)
			}
			f.mu.Unlock()
		}
	}()
	return f
}

// check waits for the follower to have read as many records as the
// cluster has, and checks it read each partition's, once, in order.
func (f *follower) check(t *testing.T, inCluster [][]*runnelv1.Record) {
	t.Helper()
	total := 0
	for _, recs := range inCluster {
		total += len(recs)
	}
	waitFor(t, 60*time.Second, "the follower to read every record", func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.err != nil {
			t.Fatalf("the follower's stream ended after %d records: %v", f.records, f.err)
		}
		if f.records < total {
			return fmt.Errorf("%d of %d records read", f.records, total)
		}
		return nil
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, want := range inCluster {
		got := f.read[p]
		for i := range max(len(got), len(want)) {
			if i >= len(got) || i >= len(want) || got[i].Offset != want[i].Offset || string(got[i].Value) != string(want[i].Value) {
				t.Fatalf("partition %d: the follower read %d records, the cluster has %d; they differ at index %d", p, len(got), len(want), i)
			}
		}
	}
}

// sidecarLeader is partition p's leader, as every running broker sees it.
func sidecarLeader(t *testing.T, c *cluster, p int32) int32 {
	t.Helper()
	var leader int32
	waitFor(t, 30*time.Second, fmt.Sprintf("a leader of partition %d", p), func() error {
		cl, err := client.Dial(c.addrs[0])
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := cl.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: sidecarTopic})
		if err != nil {
			return err
		}
		if leader = resp.Partitions[p].Leader; leader == 0 {
			return errors.New("no leader")
		}
		return nil
	})
	return leader
}

// readPartition reads a partition from offset 0 to its end.
func readPartition(t *testing.T, addr, topic string, p int32) []*runnelv1.Record {
	t.Helper()
	cl, err := client.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := cl.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: topic, Partitions: []int32{p},
		StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST})
	if err != nil {
		t.Fatal(err)
	}
	var out []*runnelv1.Record
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		out = append(out, resp.GetBatch().GetRecords()...)
	}
}
