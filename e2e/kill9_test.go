package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

const (
	kill9Topic      = "durable"
	kill9Partitions = 3
	kill9Group      = "auditors"
)

// ackLedger records every acknowledged record: where the broker said it is.
type ackLedger struct {
	mu  sync.Mutex
	at  map[string]position // value -> position
	out map[int32]int64     // committed offsets acknowledged, per partition
}

type position struct {
	partition int32
	offset    int64
}

// TestKill9LosesNoAcknowledgedRecord produces and consumes while killing
// the broker with SIGKILL, restarting it each time. Afterwards every
// acknowledged record is in the log exactly once, at the offset its ack
// named, in order, and the consumer group resumes at its committed
// offsets.
func TestKill9LosesNoAcknowledgedRecord(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	c := b.dial(t)
	ctx := context.Background()
	if _, err := c.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: kill9Topic, Partitions: kill9Partitions}); err != nil {
		t.Fatal(err)
	}
	ledger := &ackLedger{at: map[string]position{}, out: map[int32]int64{}}
	rng := rand.New(rand.NewPCG(1, 2))
	const kills = 4
	seq := 0
	for round := range kills {
		var wg sync.WaitGroup
		for producer := range 2 {
			start := seq
			seq += 1_000_000
			wg.Go(func() { produceUntilError(c, ledger, producer, start) })
		}
		wg.Go(func() { consumeUntilError(c, ledger) })
		// NB: pacing, not synchronisation: the workload runs a random
		// while, so that the kill lands anywhere in it.
		time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
		b.kill()
		wg.Wait()

		b = startBroker(t, dir)
		c = b.dial(t)
		checkResume(t, c, ledger, round)
	}
	checkLog(t, c, ledger, kills)
}

// produceUntilError produces 10-record requests to partitions in turn,
// eight in flight, until the stream breaks.
func produceUntilError(c *client.Client, ledger *ackLedger, producer, seq int) {
	stream, err := c.Produce.Produce(context.Background())
	if err != nil {
		return
	}
	type sent struct {
		partition int32
		values    []string
	}
	inFlight := make(chan sent, 8)
	go func() {
		defer close(inFlight)
		for i := uint64(0); ; i++ {
			s := sent{partition: int32(i % kill9Partitions)}
			req := &runnelv1.ProduceRequest{Topic: kill9Topic, Partition: &s.partition, CorrelationId: i}
			for range 10 {
				v := fmt.Sprintf("p%d-%d", producer, seq)
				seq++
				s.values = append(s.values, v)
				req.Records = append(req.Records, &runnelv1.Record{Key: []byte(v), Value: []byte(v)})
			}
			inFlight <- s
			if stream.Send(req) != nil {
				return
			}
		}
	}()
	for s := range inFlight {
		resp, err := stream.Recv()
		if err != nil {
			break
		}
		if resp.Error != nil {
			continue // not acknowledged: may or may not be in the log
		}
		a := resp.Acks[0]
		ledger.mu.Lock()
		for i, v := range s.values {
			ledger.at[v] = position{a.Partition, a.BaseOffset + int64(i)}
		}
		ledger.mu.Unlock()
	}
	for range inFlight { // unblock the sender
	}
}

// consumeUntilError follows the topic in the group, committing after every
// batch, until the stream breaks.
func consumeUntilError(c *client.Client, ledger *ackLedger) {
	ctx := context.Background()
	stream, err := c.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: kill9Topic, Group: kill9Group, Follow: true})
	if err != nil {
		return
	}
	var member *runnelv1.GroupAssignment
	for {
		resp, err := stream.Recv()
		if err != nil {
			return
		}
		if resp.Assignment != nil {
			member = resp.Assignment
			continue
		}
		b := resp.Batch
		next := b.Records[len(b.Records)-1].Offset + 1
		_, err = c.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: kill9Group, Topic: kill9Topic,
			Offsets:  []*runnelv1.PartitionOffset{{Partition: b.Partition, Offset: next}},
			MemberId: member.MemberId, MemberEpoch: member.MemberEpoch})
		if err != nil {
			return
		}
		ledger.mu.Lock()
		ledger.out[b.Partition] = max(ledger.out[b.Partition], next)
		ledger.mu.Unlock()
	}
}

// checkResume checks that every acknowledged commit survived and that a
// group subscription starts exactly at the committed offsets.
func checkResume(t *testing.T, c *client.Client, ledger *ackLedger, round int) {
	t.Helper()
	ctx := context.Background()
	resp, err := c.Commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: kill9Group, Topic: kill9Topic})
	if err != nil {
		t.Fatalf("round %d: fetch committed: %v", round, err)
	}
	committed := map[int32]int64{}
	for _, o := range resp.Offsets {
		committed[o.Partition] = o.Offset
	}
	ledger.mu.Lock()
	for p, o := range ledger.out {
		if committed[p] < o {
			t.Errorf("round %d: partition %d committed offset %d after restart, %d was acknowledged", round, p, committed[p], o)
		}
	}
	ledger.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := c.Subscribe.Subscribe(sctx, &runnelv1.SubscribeRequest{Topic: kill9Topic, Group: kill9Group})
	if err != nil {
		t.Fatal(err)
	}
	first := map[int32]int64{}
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("round %d: resume: %v", round, err)
		}
		if r.Batch == nil { // the member's assignment
			continue
		}
		if _, ok := first[r.Batch.Partition]; !ok {
			first[r.Batch.Partition] = r.Batch.Records[0].Offset
		}
	}
	for p, o := range first {
		if o != committed[p] {
			t.Errorf("round %d: partition %d resumed at %d, committed %d", round, p, o, committed[p])
		}
	}
}

// checkLog reads every partition and checks the ledger against it.
func checkLog(t *testing.T, c *client.Client, ledger *ackLedger, kills int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := c.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: kill9Topic,
		StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST})
	if err != nil {
		t.Fatal(err)
	}
	log := map[position]string{}
	seen := map[string]int{}
	lastSeq := map[string]int{} // producer/partition -> last sequence number
	total := 0
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read back: %v", status.Convert(err))
		}
		for _, r := range resp.Batch.Records {
			v := string(r.Value)
			log[position{resp.Batch.Partition, r.Offset}] = v
			seen[v]++
			total++
			var producer, n int
			if _, err := fmt.Sscanf(v, "p%d-%d", &producer, &n); err != nil {
				t.Fatalf("unexpected record %q", v)
			}
			k := fmt.Sprintf("%d/%d", producer, resp.Batch.Partition)
			if prev, ok := lastSeq[k]; ok && n <= prev {
				t.Errorf("partition %d: producer %d's record %d after %d: out of order", resp.Batch.Partition, producer, n, prev)
			}
			lastSeq[k] = n
		}
	}
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	for v, pos := range ledger.at {
		if got := log[pos]; got != v {
			t.Errorf("acknowledged %q at partition %d offset %d; the log has %q there", v, pos.partition, pos.offset, got)
		}
	}
	for v, n := range seen {
		if n > 1 {
			t.Errorf("record %q appears %d times", v, n)
		}
	}
	if len(ledger.at) == 0 || len(ledger.out) == 0 {
		t.Fatalf("%d records acknowledged, %d partitions committed: the test proved nothing", len(ledger.at), len(ledger.out))
	}
	t.Logf("checked %d acknowledged records across %d SIGKILLs: all present once at their offsets; %d records in the log", len(ledger.at), kills, total)
}
