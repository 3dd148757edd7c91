package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

const (
	groupsTopic      = "orders"
	groupsPartitions = 6
)

// groupTimeouts are the brokers' group timeouts in these tests: short,
// so that a killed member's partitions move within seconds.
var groupTimeouts = []string{"--group-session-timeout", "3s", "--group-rebalance-timeout", "3s"}

// TestConsumerGroups is issue 11's proof, on three brokers with
// producers writing keyed records throughout: a group g of three
// consumer processes (raw generated stubs, groupConsumerEnv), then a
// fourth joins, one stops cleanly (SIGTERM: it commits and exits), one
// is killed with SIGKILL, and the broker coordinating g is killed with
// SIGKILL; the members re-subscribe through other brokers. A second
// group h (one consumer) reads alongside. checkGroups then checks what
// every process recorded.
func TestConsumerGroups(t *testing.T) {
	c := startCluster(t, 3, groupTimeouts...)
	admin := c.dial(t, 0)
	ctx := context.Background()
	if _, err := admin.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{
		Name: groupsTopic, Partitions: groupsPartitions, ReplicationFactor: 3,
	}); err != nil {
		t.Fatal(err)
	}
	ledger := newGroupLedger()
	stop := make(chan struct{})
	var producers sync.WaitGroup
	for i := range 3 {
		producers.Go(func() { produceKeyed(c, ledger, i, stop) })
	}
	defer func() { close(stop); producers.Wait() }()
	alive := []int{0, 1, 2}

	g := map[string]*consumerProc{}       // the running members of g
	started := map[string]*consumerProc{} // every one
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("g%d", i)
		g[name] = startGroupConsumer(t, c, name, "g", i-1)
		started[name] = g[name]
	}
	h1 := startGroupConsumer(t, c, "h1", "h", 2)
	waitGroupStable(t, c, &alive, "g", g, "3 members")
	waitGroupStable(t, c, &alive, "h", map[string]*consumerProc{"h1": h1}, "its one member")

	// 1. A fourth member joins while records flow.
	joined := time.Now()
	g["g4"] = startGroupConsumer(t, c, "g4", "g", 0)
	started["g4"] = g["g4"]
	waitGroupStable(t, c, &alive, "g", g, "g4 joined")
	t.Logf("g4 joined: the group was stable again after %v", time.Since(joined).Round(time.Millisecond))

	// 2. One stops cleanly: it commits what it processed and exits.
	stopped := time.Now()
	g["g2"].stop(t)
	delete(g, "g2")
	waitGroupStable(t, c, &alive, "g", g, "g2 stopped")
	t.Logf("g2 stopped cleanly: the group was stable again after %v", time.Since(stopped).Round(time.Millisecond))

	// 3. One is killed with SIGKILL.
	killed := time.Now()
	g["g3"].kill(t)
	delete(g, "g3")
	waitGroupStable(t, c, &alive, "g", g, "g3 killed")
	t.Logf("g3 killed: the group was stable again after %v", time.Since(killed).Round(time.Millisecond))

	// 4. The broker coordinating g is killed with SIGKILL.
	coord := describeGroup(t, c, alive, "g").CoordinatorId
	failed := time.Now()
	c.kill(int(coord - 1))
	alive = slices.DeleteFunc(alive, func(i int) bool { return i == int(coord-1) })
	waitGroupStable(t, c, &alive, "g", g, fmt.Sprintf("its coordinator, broker %d, killed", coord))
	newCoord := describeGroup(t, c, alive, "g").CoordinatorId
	t.Logf("coordinator broker %d killed: broker %d coordinates g, stable again after %v", coord, newCoord, time.Since(failed).Round(time.Millisecond))
	waitGroupStable(t, c, &alive, "h", map[string]*consumerProc{"h1": h1}, "the coordinator killed")
	for _, p := range append(slices.Collect(maps.Values(g)), h1) {
		if err := p.resubscribedAs(failed.UnixNano()); err != nil {
			t.Error(err)
		}
	}

	// Stop producing, let both groups read everything acked, stop them.
	close(stop)
	producers.Wait()
	stop = make(chan struct{}) // NB: for the deferred close
	all := []*consumerProc{h1}
	for i := 1; i <= 4; i++ {
		all = append(all, started[fmt.Sprintf("g%d", i)])
	}
	waitFor(t, 60*time.Second, "groups g and h to read every acked record", func() error {
		acked := ledger.snapshot()
		for _, grp := range []string{"g", "h"} {
			read := map[string]bool{}
			for _, p := range all {
				if p.group == grp {
					p.readValues(read)
				}
			}
			for v := range acked {
				if !read[v] {
					return fmt.Errorf("group %s has not read %q (of %d acked)", grp, v, len(acked))
				}
			}
		}
		return nil
	})
	for _, p := range append(slices.Collect(maps.Values(g)), h1) {
		p.stop(t)
	}

	var histories []*memberHistory
	for _, p := range all {
		histories = append(histories, &memberHistory{name: p.name, group: p.group, events: p.snapshot()})
	}
	acked := ledger.snapshot()
	if dir := os.Getenv("RUNNEL_E2E_GROUP_HISTORIES"); dir != "" {
		saveHistories(t, dir, histories, acked)
	}
	res, errs := checkGroups(acked, histories, "g2")
	for _, err := range errs {
		t.Error(err)
	}
	t.Logf("checked %d acked records (%d writes of unknown outcome), %d batches delivered (%d records to g) in %d ownership intervals, %d overlapping with one reader",
		res.acked, ledger.unsure, res.deliveries, res.records, res.intervals, res.overlaps)
	for _, m := range rebalanceTimes(histories, "g", map[string]int64{
		"g4 joined": joined.UnixNano(), "g2 stopped": stopped.UnixNano(), "g3 killed": killed.UnixNano(), "coordinator killed": failed.UnixNano()}) {
		t.Logf("%s", m)
	}
	if res.acked == 0 {
		t.Fatal("nothing was acknowledged: the test checked nothing")
	}

}

// groupLedger records every acknowledged record: where its ack put it.
type groupLedger struct {
	mu     sync.Mutex
	acked  map[string]position
	unsure int
}

func newGroupLedger() *groupLedger { return &groupLedger{acked: map[string]position{}} }

func (l *groupLedger) snapshot() map[string]position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

// produceKeyed writes one keyed record per request (acks=ALL), the
// topic's partitioner choosing the partition, through broker producer,
// then the next on any failure, until stop. Every value is unique.
func produceKeyed(c *cluster, l *groupLedger, producer int, stop <-chan struct{}) {
	seq := 0
	for target := producer; ; target++ {
		select {
		case <-stop:
			return
		default:
		}
		cl, err := client.Dial(c.addrs[target%len(c.addrs)])
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		stream, err := cl.Produce.Produce(ctx)
		for err == nil {
			select {
			case <-stop:
				err = errors.New("stopped")
				continue
			default:
			}
			seq++
			v := fmt.Sprintf("p%d-%d", producer, seq)
			err = stream.Send(&runnelv1.ProduceRequest{Topic: groupsTopic, Acks: runnelv1.Acks_ACKS_ALL, CorrelationId: uint64(seq),
				Records: []*runnelv1.Record{{Key: []byte(fmt.Sprintf("key-%d", seq%97)), Value: []byte(v)}}})
			if err != nil {
				break
			}
			timer := time.AfterFunc(requestTimeout, cancel)
			var resp *runnelv1.ProduceResponse
			resp, err = stream.Recv()
			timer.Stop()
			l.mu.Lock()
			if err == nil && resp.Error == nil && len(resp.Acks) == 1 {
				l.acked[v] = position{resp.Acks[0].Partition, resp.Acks[0].BaseOffset}
			} else {
				l.unsure++
				if err == nil {
					err = fmt.Errorf("not acknowledged: %v", resp.Error)
				}
			}
			l.mu.Unlock()
			// NB: pacing, not synchronisation: a few hundred records a
			// second from each producer, a steady flow for the consumers.
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
		cl.Close()
		// NB: pacing: a retry backoff before the next broker.
		time.Sleep(50 * time.Millisecond)
	}
}

// consumerProc is a consumer process: the e2e test binary run as
// runGroupConsumer.
type consumerProc struct {
	name, group string
	cmd         *exec.Cmd
	exited      chan struct{}
	mu          sync.Mutex
	events      []groupEvent
	stderr      strings.Builder
}

// startGroupConsumer starts a consumer process of group grp, which
// subscribes through broker first (then the next on a failure).
func startGroupConsumer(t testing.TB, c *cluster, name, grp string, first int) *consumerProc {
	t.Helper()
	cfg, err := json.Marshal(groupConsumerConfig{Addrs: c.addrs, First: first, Group: grp, Topic: groupsTopic})
	if err != nil {
		t.Fatal(err)
	}
	p := &consumerProc{name: name, group: grp, exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), groupConsumerEnv+"="+string(cfg))
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, b: &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var e groupEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				// NB: a SIGKILL may cut the last line short; nothing
				// after it is read.
				continue
			}
			p.mu.Lock()
			p.events = append(p.events, e)
			p.mu.Unlock()
		}
	}()
	go func() { <-read; _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			p.mu.Lock()
			t.Logf("consumer %s stderr:\n%s", p.name, p.stderr.String())
			p.mu.Unlock()
		}
	})
	waitFor(t, 10*time.Second, name+" to start", func() error {
		if len(p.snapshot()) == 0 {
			return errors.New("no line yet")
		}
		return nil
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (p *consumerProc) snapshot() []groupEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// owned is what the process owns now, by its events: the partitions of
// its last assignment on its current stream.
func (p *consumerProc) owned() []int32 {
	var owned []int32
	for _, e := range p.snapshot() {
		switch e.Ev {
		case "assign":
			owned = e.Owned
		case "stream_end":
			owned = nil
		}
	}
	return owned
}

// deliveredSince says whether the process was delivered a batch of
// every partition it owns after at.
func (p *consumerProc) deliveredSince(at int64) error {
	got := map[int32]bool{}
	for _, e := range p.snapshot() {
		if e.Ev == "batch" && e.T > at {
			got[e.P] = true
		}
	}
	for _, o := range p.owned() {
		if !got[o] {
			return fmt.Errorf("%s owns %v and read nothing of %d since", p.name, p.owned(), o)
		}
	}
	return nil
}

// resubscribedAs checks that the process's stream broke after at and
// that it came back through another stream as the member it was.
func (p *consumerProc) resubscribedAs(at int64) error {
	var before, after string
	broke := false
	for _, e := range p.snapshot() {
		switch {
		case e.Ev == "assign" && e.T < at:
			before = e.Member
		case e.Ev == "stream_end" && e.T > at:
			broke = true
		case e.Ev == "assign" && broke:
			after = e.Member
		}
	}
	if !broke || before == "" || after != before {
		return fmt.Errorf("%s: member %q before the coordinator's death, stream broken after it %v, member %q after", p.name, before, broke, after)
	}
	return nil
}

func (p *consumerProc) readValues(read map[string]bool) {
	for _, e := range p.snapshot() {
		if e.Ev == "batch" {
			for _, v := range e.Values {
				read[v] = true
			}
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *consumerProc) stop(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("consumer %s did not exit within 20s of SIGTERM", p.name)
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("consumer %s: %v", p.name, p.cmd.ProcessState)
	}
}

// kill sends SIGKILL and waits for the process to die.
func (p *consumerProc) kill(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// describeGroup asks the live brokers in turn for the group.
func describeGroup(t testing.TB, c *cluster, alive []int, grp string) *runnelv1.ConsumerGroup {
	t.Helper()
	var g *runnelv1.ConsumerGroup
	waitFor(t, 20*time.Second, "a broker to describe group "+grp, func() error {
		var err error
		g, err = tryDescribeGroup(c, alive, grp)
		return err
	})
	return g
}

func tryDescribeGroup(c *cluster, alive []int, grp string) (*runnelv1.ConsumerGroup, error) {
	var errs []error
	for _, i := range alive {
		cl, err := client.Dial(c.addrs[i])
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := cl.Admin.DescribeGroup(ctx, &runnelv1.DescribeGroupRequest{Group: grp})
		cancel()
		cl.Close()
		if err == nil {
			return resp.Group, nil
		}
		errs = append(errs, fmt.Errorf("broker %d: %w", i+1, err))
	}
	return nil, errors.Join(errs...)
}

// waitGroupStable waits until group grp is stable with exactly the
// members procs (by the coordinator, DescribeGroup), every partition
// assigned, the processes' own assignment events agreeing, and every
// process reading each partition it owns.
func waitGroupStable(t testing.TB, c *cluster, alive *[]int, grp string, procs map[string]*consumerProc, after string) {
	t.Helper()
	at := time.Now().UnixNano()
	waitFor(t, 30*time.Second, fmt.Sprintf("group %s to be stable after %s, every member reading", grp, after), func() error {
		g, err := tryDescribeGroup(c, *alive, grp)
		if err != nil {
			return err
		}
		if g.State != runnelv1.GroupState_GROUP_STATE_STABLE || len(g.Members) != len(procs) {
			return fmt.Errorf("state %v, %d members, want %d", g.State, len(g.Members), len(procs))
		}
		byMember := map[string][]int32{}
		for _, m := range g.Members {
			for _, tp := range m.Assigned {
				byMember[m.MemberId] = append(byMember[m.MemberId], tp.Partitions...)
			}
		}
		seen := 0
		for _, p := range procs {
			events := p.snapshot()
			var member string
			for _, e := range events {
				if e.Ev == "assign" {
					member = e.Member
				}
			}
			owned := p.owned()
			want := byMember[member]
			slices.Sort(want)
			if len(owned) == 0 || !slices.Equal(slices.Sorted(slices.Values(owned)), want) {
				return fmt.Errorf("%s (member %q) owns %v by its events, %v by the coordinator", p.name, member, owned, want)
			}
			seen += len(owned)
			if err := p.deliveredSince(at); err != nil {
				return err
			}
		}
		if seen != groupsPartitions {
			return fmt.Errorf("%d partitions owned, want %d", seen, groupsPartitions)
		}
		return nil
	})
}

// saveHistories writes each member's lines and the acks to dir
// (RUNNEL_E2E_GROUP_HISTORIES), to study a failure.
func saveHistories(t testing.TB, dir string, histories []*memberHistory, acked map[string]position) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range histories {
		var b strings.Builder
		for _, e := range m.events {
			line, _ := json.Marshal(e)
			b.Write(append(line, '\n'))
		}
		if err := os.WriteFile(filepath.Join(dir, m.name+".jsonl"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	for v, p := range acked {
		fmt.Fprintf(&b, "%s %d %d\n", v, p.partition, p.offset)
	}
	if err := os.WriteFile(filepath.Join(dir, "acked.txt"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
