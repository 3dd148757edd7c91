package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

const (
	// loadWrites is how many acknowledged writes each partition takes
	// after each fault before the next: 100 records, a fraction of a
	// second when the partition serves.
	loadWrites      = 20
	faultTopic      = "replicated"
	faultPartitions = 3
	// requestTimeout abandons a write whose ack does not come: its outcome
	// is then unknown and the producer moves to another broker.
	requestTimeout = 3 * time.Second
)

// TestClusterFaults runs three brokers as separate processes with
// idempotent producers (acks=ALL, many requests in flight on each stream,
// each write sent again after a failure until acknowledged) and
// consumers on every broker, and injects faults: kill -9 of a partition's
// leader, the restart of that broker (it catches up and rejoins), a
// broker cut off from the others by the proxies between brokers, then
// healed, and a leader whose disk is wiped (it rejoins empty); then a
// fourth broker joins and a partition moves onto it. Afterwards the history checker verifies
// that every acknowledged record is readable exactly once, at its acked
// offset, through every broker, in order, that no write is in the log
// twice however often it was sent, and that what consumers read during
// the faults never changed.
func TestClusterFaults(t *testing.T) {
	runClusterFaults(t, startCluster(t, 3))
}

// TestClusterFaultsOverMTLS runs the same faults with mutual TLS on every
// listener, between the brokers and between the test's clients and them,
// and the brokers' calls to each other carrying the cluster's secret
// (joining and rejoining included).
func TestClusterFaultsOverMTLS(t *testing.T) {
	certs := writeTLSCerts(t)
	cfg, err := certs.clientConfig()
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "cluster-secret")
	if err := os.WriteFile(secret, []byte("e2e-secret-0123456789abcdef0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(certs.serveArgs(), "--cluster-secret-file", secret)
	runClusterFaults(t, startClusterWith(t, 3, args, []client.Option{client.WithTLS(cfg)}))
}

func runClusterFaults(t *testing.T, c *cluster) {
	admin := c.dial(t, 0) // NB: by its proxy, which follows broker 1 through restarts
	ctx := context.Background()
	if _, err := admin.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{
		Name: faultTopic, Partitions: faultPartitions, ReplicationFactor: 3,
	}); err != nil {
		t.Fatal(err)
	}
	h := newHistory()
	stop := make(chan struct{})
	var producers, consumers sync.WaitGroup
	for i := range 3 {
		producers.Go(func() { produceThroughFaults(t, c, h, i, stop) })
	}
	stopConsumers := make(chan struct{})
	for i := range c.brokers {
		for p := range int32(faultPartitions) {
			consumers.Go(func() { consumeThroughFaults(c, h, i, p, stopConsumers) })
		}
	}
	// load waits until every partition has taken loadWrites acknowledged
	// writes since the last fault, within 15s of it: the workload runs
	// through each fault, and the cluster serves every partition again
	// (the safety checks come at the end, against the final logs: a lost
	// or moved record stays lost or moved, and what consumers read during
	// each fault is checked against them).
	load := func(after string) {
		at := time.Now()
		waitFor(t, 15*time.Second, fmt.Sprintf("%d acknowledged writes on every partition after %s", loadWrites, after), func() error {
			for p := range int32(faultPartitions) {
				if n := h.acksSince(p, at); n < loadWrites {
					return fmt.Errorf("partition %d: %d acknowledged writes", p, n)
				}
			}
			return nil
		})
	}
	load("start")

	// 1. kill -9 the leader of partition 0.
	leader := leaderOf(t, c, 0, 0)
	killed := time.Now()
	c.kill(int(leader - 1))
	newLeader := leaderOf(t, c, 0, leader)
	t.Logf("fault 1: killed broker %d, the leader of partition 0; broker %d leads it after %v",
		leader, newLeader, time.Since(killed).Round(time.Millisecond))
	load("fault 1")

	// 3. restart it: it catches up and rejoins.
	c.restart(int(leader - 1))
	t.Logf("fault 3: restarted broker %d", leader)
	load("fault 3")

	// 2. cut the leader of partition 1 off the other brokers, then heal.
	cut := leaderOf(t, c, 1, 0)
	c.isolate(int(cut - 1))
	t.Logf("fault 2: cut broker %d, the leader of partition 1, off the others", cut)
	load("fault 2")
	c.heal(int(cut - 1))
	t.Logf("fault 2: healed broker %d", cut)
	load("healing")

	// 5. wipe the disk of partition 2's leader: kill -9, an empty data
	// directory, a restart. It must rejoin (not start a cluster of its
	// own, not vote until it has caught up) and lose nothing acknowledged.
	wiped := leaderOf(t, c, 2, 0)
	c.kill(int(wiped - 1))
	if err := os.RemoveAll(c.brokers[wiped-1].dataDir); err != nil {
		t.Fatal(err)
	}
	c.restart(int(wiped - 1))
	t.Logf("fault 5: wiped and restarted broker %d, the leader of partition 2", wiped)
	load("fault 5")

	// 4. a fourth broker joins, and partition 2 moves onto it.
	joined := launchBroker(t, t.TempDir(), append([]string{"--node-id", "4", "--join", c.peerAddrs[0]}, c.serveArgs...)...)
	joined.clientOpts = c.clientOpts
	joined.waitServing()
	moved := moveOnto(t, admin, 2, 4)
	t.Logf("change 4: broker 4 joined; partition 2 moved to brokers %v", moved)
	load("change 4")

	close(stop)
	producers.Wait()
	// Let the consumers catch up on every broker, then stop them.
	hw := waitConverged(t, c)
	waitFor(t, 30*time.Second, fmt.Sprintf("every consumer to read up to the high watermarks %v", hw), func() error {
		for i := range c.brokers {
			for p := range int32(faultPartitions) {
				observer := fmt.Sprintf("consumer via broker %d", i+1)
				if next := h.readTo(observer, p); next < hw[p] {
					return fmt.Errorf("%s read partition %d up to offset %d", observer, p, next)
				}
			}
		}
		return nil
	})
	close(stopConsumers)
	consumers.Wait()

	logs := map[string]map[int32][]string{}
	for i, b := range c.brokers {
		logs[fmt.Sprintf("broker %d", i+1)] = readAll(t, b.dial(t))
	}
	logs["broker 4 (joined)"] = readAll(t, joined.dial(t))
	res, errs := h.check(logs)
	for _, err := range errs {
		t.Error(err)
	}
	t.Logf("checked: %d acknowledged records, %d writes sent again after a failure, %d writes of unknown outcome "+
		"(%d records of such writes in the log), %d records in each broker's log, %d consumer reads",
		res.acked, res.resent, res.unsureWrites, res.unsureInLog, res.records, res.observed)
	if gap := h.ackGap(0, killed, 5*time.Second); gap > 0 {
		t.Logf("failover: partition 0 went %v without an ack after its leader was killed", gap.Round(time.Millisecond))
	}
	if res.acked == 0 || res.observed == 0 {
		t.Fatal("nothing was acknowledged or read: the test checked nothing")
	}
	if res.resent == 0 {
		t.Fatal("no write was sent again: the faults never left a write's outcome unknown, and idempotence went untested")
	}
}

// producerInFlight is how many requests each producer keeps in flight on
// its stream: with one, a reorder of acknowledged requests could not show.
const producerInFlight = 8

// faultProducer is an idempotent producer written against the raw stubs,
// as a user of generated code in any language would write one: it
// pipelines requests to every partition on one stream, and after a
// failure sends each unacknowledged write again, with its producer
// sequence, in order, through the next broker. The partitions must
// append each write once: the history checker fails on a value in the
// log twice.
type faultProducer struct {
	n  int   // which producer, in the values it writes
	id int64 // from InitProducer
	// next is each partition's next sequence number.
	next map[int32]int64
	// unacked are the writes sent and not acknowledged, in the order they
	// were first sent: the next stream sends them again, first.
	unacked []*inFlightWrite
	seq     int // numbers the writes in the order they are sent
}

// produceThroughFaults writes 5-record requests to the partitions in turn,
// producerInFlight at a time on one stream, with acks=ALL and idempotence,
// until stop. On any failure it moves to the next broker and sends again
// what was not acknowledged; what is still not acknowledged at stop has
// an unknown outcome.
func produceThroughFaults(t *testing.T, c *cluster, h *history, producer int, stop <-chan struct{}) {
	fp := &faultProducer{n: producer, next: map[int32]int64{}}
	defer func() {
		for _, w := range fp.unacked {
			h.failed(w.values)
		}
	}()
	for target := producer; ; target++ {
		select {
		case <-stop:
			return
		default:
		}
		cl, err := c.connect(c.addrs[target%len(c.addrs)])
		if err != nil {
			t.Error(err)
			return
		}
		if fp.id == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			if r, err := cl.Produce.InitProducer(ctx, &runnelv1.InitProducerRequest{}); err == nil {
				fp.id = r.ProducerId
			}
			cancel()
		}
		if fp.id != 0 {
			fp.produceOn(cl, h, stop)
		}
		cl.Close()
		// NB: pacing, not synchronisation: a pause between a failed
		// stream and the next, as a client's retry backoff.
		time.Sleep(50 * time.Millisecond)
	}
}

// inFlightWrite is a request sent and not yet acknowledged.
type inFlightWrite struct {
	req    *runnelv1.ProduceRequest
	values []string
	seq    int
	sent   time.Time
}

// write makes the producer's next write, to the partitions in turn.
func (fp *faultProducer) write() *inFlightWrite {
	fp.seq++
	partition := int32(fp.seq % faultPartitions)
	w := &inFlightWrite{seq: fp.seq, req: &runnelv1.ProduceRequest{Topic: faultTopic, Partition: &partition,
		Acks: runnelv1.Acks_ACKS_ALL, ProducerId: fp.id, BaseSequence: fp.next[partition]}}
	for i := range 5 {
		v := fmt.Sprintf("p%d-w%d-r%d", fp.n, fp.seq, i)
		w.values = append(w.values, v)
		w.req.Records = append(w.req.Records, &runnelv1.Record{Value: []byte(v)})
	}
	fp.next[partition] += int64(len(w.req.Records))
	fp.unacked = append(fp.unacked, w)
	return w
}

// produceOn produces on one stream until a failure or stop, keeping
// producerInFlight requests in flight: first what earlier streams left
// unacknowledged, then new writes. seq numbers the writes in the order
// they are first sent, which is the order their acks must keep.
func (fp *faultProducer) produceOn(cl *client.Client, h *history, stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := cl.Produce.Produce(ctx)
	if err != nil {
		return
	}
	responses := make(chan *runnelv1.ProduceResponse)
	received := make(chan struct{})
	go func() {
		defer close(received)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			select {
			case responses <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()
	resend := slices.Clone(fp.unacked)
	inFlight := map[uint64]*inFlightWrite{}
	var correlation uint64
	stopping := false
	for {
		if !stopping && len(inFlight) < producerInFlight {
			select {
			case <-stop:
				stopping = true
				continue
			default:
			}
			var w *inFlightWrite
			if len(resend) > 0 {
				w, resend = resend[0], resend[1:]
				h.resend()
			} else {
				w = fp.write()
			}
			correlation++
			w.req.CorrelationId, w.sent = correlation, time.Now()
			inFlight[correlation] = w
			if err := stream.Send(w.req); err != nil {
				return
			}
			continue
		}
		if len(inFlight) == 0 {
			return
		}
		oldest := time.Now()
		for _, w := range inFlight {
			if w.sent.Before(oldest) {
				oldest = w.sent
			}
		}
		select {
		case resp := <-responses:
			w, ok := inFlight[resp.CorrelationId]
			if !ok {
				continue
			}
			delete(inFlight, resp.CorrelationId)
			if resp.Error != nil || len(resp.Acks) != 1 {
				return // sent again on the next stream, with what follows it
			}
			a := resp.Acks[0]
			h.ack(w.values, ack{partition: a.Partition, offset: a.BaseOffset, producer: fp.n, seq: w.seq})
			fp.unacked = slices.DeleteFunc(fp.unacked, func(u *inFlightWrite) bool { return u == w })
		case <-received:
			return
		case <-time.After(time.Until(oldest.Add(requestTimeout))):
			return
		case <-stop:
			stopping = true
		}
	}
}

// consumeThroughFaults follows one partition through broker i, from the
// earliest offset, resubscribing after failures where it left off.
func consumeThroughFaults(c *cluster, h *history, i int, partition int32, stop <-chan struct{}) {
	observer := fmt.Sprintf("consumer via broker %d", i+1)
	next := int64(0)
	for {
		select {
		case <-stop:
			return
		default:
		}
		cl, err := c.connect(c.addrs[i])
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-stop:
			case <-ctx.Done():
			}
			cancel()
		}()
		stream, err := cl.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{
			Topic: faultTopic, Partitions: []int32{partition}, Follow: true,
			StartPosition: runnelv1.StartPosition_START_POSITION_OFFSET, StartOffset: next,
		})
		for err == nil {
			var resp *runnelv1.SubscribeResponse
			resp, err = stream.Recv()
			if err != nil {
				break
			}
			var recs []observed
			for _, r := range resp.Batch.Records {
				recs = append(recs, observed{offset: r.Offset, value: string(r.Value)})
				next = r.Offset + 1
			}
			h.observe(observer, partition, recs)
		}
		cancel()
		cl.Close()
		// NB: pacing, not synchronisation: a pause before resubscribing,
		// as a client's retry backoff.
		time.Sleep(100 * time.Millisecond)
	}
}

// moveOnto reassigns partition p of the fault topic to broker id and
// all its replicas but the first, waits until the move is done, and
// returns the new replicas.
func moveOnto(t *testing.T, admin *client.Client, p, id int32) []int32 {
	t.Helper()
	ctx := context.Background()
	resp, err := admin.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: faultTopic})
	if err != nil {
		t.Fatal(err)
	}
	target := append([]int32{id}, resp.Partitions[p].Replicas[1:]...)
	if _, err := admin.Admin.ReassignPartition(ctx, &runnelv1.ReassignPartitionRequest{Topic: faultTopic, Partition: p, Replicas: target}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("partition %d to move to replicas %v with a leader", p, target), func() error {
		resp, err := admin.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: faultTopic})
		if err != nil {
			return err
		}
		got := resp.Partitions[p]
		if !slices.Equal(got.Replicas, target) || len(got.AddingReplicas)+len(got.RemovingReplicas) > 0 || got.Leader == 0 {
			return fmt.Errorf("replicas %v adding %v removing %v leader %d", got.Replicas, got.AddingReplicas, got.RemovingReplicas, got.Leader)
		}
		return nil
	})
	return target
}

// leaderOf waits until the brokers other than broker not (a node id, 0
// for none) agree on a leader of partition p other than not, and returns
// its node id.
func leaderOf(t *testing.T, c *cluster, p int32, not int32) int32 {
	t.Helper()
	var leader int32
	waitFor(t, 30*time.Second, fmt.Sprintf("the brokers to agree on a leader of partition %d other than %d", p, not), func() error {
		leaders := map[int32]int{}
		var errs []error
		asked := 0
		for i, b := range c.brokers {
			if int32(i+1) == not {
				continue
			}
			asked++
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			cl, err := c.connect(b.addr)
			if err == nil {
				resp, derr := cl.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: faultTopic})
				if derr == nil {
					leaders[resp.Partitions[p].Leader]++
				} else {
					errs = append(errs, fmt.Errorf("broker %d: %w", i+1, derr))
				}
				cl.Close()
			} else {
				errs = append(errs, fmt.Errorf("broker %d: %w", i+1, err))
			}
			cancel()
		}
		for l, n := range leaders {
			if l != 0 && l != not && n == asked {
				leader = l
				return nil
			}
		}
		return fmt.Errorf("leaders named (leader: brokers naming it) %v of %d asked; %v", leaders, asked, errors.Join(errs...))
	})
	return leader
}

// waitConverged waits until every broker has the same high watermark on
// every partition, and returns them.
func waitConverged(t *testing.T, c *cluster) []int64 {
	t.Helper()
	var hw []int64
	waitFor(t, 60*time.Second, "the brokers' high watermarks to converge", func() error {
		var all [][]int64
		for i, b := range c.brokers {
			cl, err := c.connect(b.addr)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := cl.Admin.DescribeTopic(context.Background(), &runnelv1.DescribeTopicRequest{Name: faultTopic})
			cl.Close()
			if err != nil {
				return fmt.Errorf("broker %d: %w", i+1, err)
			}
			var hws []int64
			for _, p := range resp.Partitions {
				hws = append(hws, p.HighWatermark)
			}
			all = append(all, hws)
		}
		for _, hws := range all[1:] {
			if !slices.Equal(hws, all[0]) {
				return fmt.Errorf("high watermarks by broker %v", all)
			}
		}
		hw = all[0]
		return nil
	})
	return hw
}

// readAll reads every partition of the fault topic from the earliest
// offset to the high watermark.
func readAll(t *testing.T, cl *client.Client) map[int32][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := cl.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: faultTopic,
		StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST})
	if err != nil {
		t.Fatal(err)
	}
	logs := map[int32][]string{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return logs
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Batch.Records {
			p := resp.Batch.Partition
			if int64(len(logs[p])) != r.Offset {
				t.Fatalf("partition %d: read offset %d after %d records", p, r.Offset, len(logs[p]))
			}
			logs[p] = append(logs[p], string(r.Value))
		}
	}
}
