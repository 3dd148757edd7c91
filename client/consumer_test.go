package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// produceTo appends n records to each partition named, values
// "p<partition>-<i>" counting from first.
func produceTo(t testing.TB, c *client.Client, topic string, partitions []int32, first, n int) {
	t.Helper()
	p := c.Producer()
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make(chan error, n*len(partitions))
	for i := first; i < first+n; i++ {
		for _, part := range partitions {
			p.Produce(ctx, &client.Record{Topic: topic, Partition: new(part), Value: fmt.Appendf(nil, "p%d-%d", part, i)},
				func(_ client.Ack, err error) {
					if err != nil {
						errs <- err
					}
				})
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func newConsumer(t testing.TB, c *client.Client, opts ...client.ConsumerOption) *client.Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := c.Consumer(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// loop runs k's Records loop until the test ends, sending each record
// on the channel returned; errors fail the test.
func loop(t testing.TB, k *client.Consumer) <-chan *client.Record {
	ch := make(chan *client.Record)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for rec, err := range k.Records(ctx) {
			if errors.Is(err, client.ErrClosed) {
				return // its Client was closed
			}
			if err != nil {
				t.Errorf("Records: %v", err)
				return
			}
			select {
			case ch <- rec:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// take receives n records.
func take(t testing.TB, ch <-chan *client.Record, n int) []*client.Record {
	t.Helper()
	var out []*client.Record
	timeout := time.After(60 * time.Second)
	for len(out) < n {
		select {
		case r := <-ch:
			out = append(out, r)
		case <-timeout:
			t.Fatalf("received %d records of %d within 60s", len(out), n)
		}
	}
	return out
}

// checkSeq checks recs of one partition are offsets from, from+1, ...
func checkSeq(t testing.TB, recs []*client.Record, from int64) {
	t.Helper()
	for i, r := range recs {
		if r.Offset != from+int64(i) {
			t.Fatalf("%s/%d: record %d has offset %d, want %d", r.Topic, *r.Partition, i, r.Offset, from+int64(i))
		}
		if want := fmt.Sprintf("p%d-%d", *r.Partition, r.Offset); string(r.Value) != want {
			t.Fatalf("%s/%d offset %d: value %q, want %q", r.Topic, *r.Partition, r.Offset, r.Value, want)
		}
	}
}

func byPartition(recs []*client.Record) map[int32][]*client.Record {
	out := map[int32][]*client.Record{}
	for _, r := range recs {
		out[*r.Partition] = append(out[*r.Partition], r)
	}
	return out
}

func committed(t testing.TB, c *client.Client, group, topic string) map[int32]int64 {
	t.Helper()
	resp, err := c.Commit.FetchCommitted(context.Background(), &runnelv1.FetchCommittedRequest{Group: group, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, po := range resp.Offsets {
		out[po.Partition] = po.Offset
	}
	return out
}

func TestConsumerBadInput(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "bad", 2, 1)
	ctx := context.Background()
	for _, tc := range []struct {
		opts []client.ConsumerOption
		want string
	}{
		{nil, "needs WithGroup and WithTopics, or WithAssignment"},
		{[]client.ConsumerOption{client.WithTopics("bad")}, "add WithGroup"},
		{[]client.ConsumerOption{client.WithGroup("g"), client.WithTopics("bad"), client.WithAssignment(map[string][]int32{"bad": {0}})}, "exclude each other"},
		{[]client.ConsumerOption{client.WithAssignment(map[string][]int32{"bad": {2}})}, `topic "bad" has partitions 0 to 1, not 2`},
		{[]client.ConsumerOption{client.WithAssignment(map[string][]int32{"bad": {-1}})}, "partitions start at 0"},
		{[]client.ConsumerOption{client.WithAssignment(map[string][]int32{"nope": nil})}, `topic "nope"`},
		{[]client.ConsumerOption{client.WithAssignment(map[string][]int32{"bad": nil}), client.WithInstanceID("i")}, "WithInstanceID is for a group member"},
		{[]client.ConsumerOption{client.WithAssignment(map[string][]int32{"bad": nil}), client.WithFetchMaxBytes(-1)}, "WithFetchMaxBytes(-1)"},
	} {
		k, err := c.Consumer(ctx, tc.opts...)
		if err == nil {
			k.Close()
			t.Errorf("want an error with %q, got none", tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q, want it to say %q", err, tc.want)
		}
	}
	k := newConsumer(t, c, client.WithAssignment(map[string][]int32{"bad": {0}}))
	if err := k.Seek("bad", 1, 0); err == nil || !strings.Contains(err.Error(), "does not read bad/1") {
		t.Errorf("Seek of a partition not read: %v", err)
	}
	if err := k.Seek("bad", 0, -3); err == nil {
		t.Error("Seek to -3: no error")
	}
	if err := k.Commit(ctx); err != client.ErrNoGroup {
		t.Errorf("Commit without a group: %v, want ErrNoGroup", err)
	}
	// A seek past the end ends the partition's read with OUT_OF_RANGE.
	if err := k.Seek("bad", 0, 1000); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for rec, err := range k.Records(rctx) {
		if rec != nil {
			t.Fatalf("a record from an empty partition: %v", rec)
		}
		var pe *client.PartitionError
		if !asPartitionError(err, &pe) || status.Code(pe.Err) != codes.OutOfRange || pe.Partition != 0 {
			t.Fatalf("after a seek past the end: %v, want a *PartitionError OUT_OF_RANGE", err)
		}
		break
	}
}

func asPartitionError(err error, pe **client.PartitionError) bool {
	e, ok := err.(*client.PartitionError)
	*pe = e
	return ok
}

func TestConsumerManualAssignment(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "manual", 3, 1)
	produceTo(t, c, "manual", []int32{0, 1, 2}, 0, 40)
	k := newConsumer(t, c, client.WithAssignment(map[string][]int32{"manual": {0, 2}}), client.WithFetchMaxBytes(256))
	ch := loop(t, k)
	got := byPartition(take(t, ch, 80))
	if len(got[1]) > 0 {
		t.Fatalf("records of partition 1, which is not assigned")
	}
	checkSeq(t, got[0], 0)
	checkSeq(t, got[2], 0)
	// It follows: records appended later come too.
	produceTo(t, c, "manual", []int32{0, 1, 2}, 40, 10)
	more := byPartition(take(t, ch, 20))
	checkSeq(t, more[0], 40)
	checkSeq(t, more[2], 40)
	if got := k.Assigned(); !slices.Equal(got["manual"], []int32{0, 2}) {
		t.Errorf("Assigned: %v", got)
	}
	if pos, ok := k.Position("manual", 2); !ok || pos != 50 {
		t.Errorf("Position of manual/2: %d %v, want 50", pos, ok)
	}

	// With a group, a manual consumer starts at the committed offsets.
	ctx := context.Background()
	if _, err := c.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: "manual-g", Topic: "manual",
		Offsets: []*runnelv1.PartitionOffset{{Partition: 1, Offset: 45}}}); err != nil {
		t.Fatal(err)
	}
	k2 := newConsumer(t, c, client.WithGroup("manual-g"), client.WithAssignment(map[string][]int32{"manual": nil}),
		client.WithResetOffset(client.ResetLatest), client.WithAutoCommit(0))
	ch2 := loop(t, k2)
	first := take(t, ch2, 5)
	checkSeq(t, first, 45) // only partition 1 had records at or after its start: 0 and 2 start at the end
	produceTo(t, c, "manual", []int32{0}, 50, 1)
	if r := take(t, ch2, 1)[0]; *r.Partition != 0 || r.Offset != 50 {
		t.Fatalf("after the end of partition 0: %d/%d", *r.Partition, r.Offset)
	}
	if err := k2.CommitRecords(ctx, first[2]); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, c, "manual-g", "manual"); got[1] != 48 {
		t.Fatalf("committed after CommitRecords of offset 47: %v", got)
	}
	if err := k2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, c, "manual-g", "manual"); got[0] != 51 || got[1] != 50 {
		t.Fatalf("committed after Commit: %v, want 0:51 1:50", got)
	}
}

func TestConsumerSeek(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "seek", 1, 1)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := c.Producer()
	ctx := context.Background()
	for i := range 100 {
		if _, err := p.ProduceSync(ctx, &client.Record{Topic: "seek", Value: fmt.Appendf(nil, "p0-%d", i),
			Timestamp: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	k := newConsumer(t, c, client.WithAssignment(map[string][]int32{"seek": {0}}), client.WithFetchMaxBytes(128))
	ch := loop(t, k)
	checkSeq(t, take(t, ch, 10), 0)
	// NB: the loop may have one record of the old read in hand; the next
	// must be the one sought.
	seekTo := func(name string, seek func() error, want int64) {
		t.Helper()
		if err := seek(); err != nil {
			t.Fatal(err)
		}
		r := take(t, ch, 1)[0]
		if r.Offset != want {
			r = take(t, ch, 1)[0]
		}
		if r.Offset != want {
			t.Fatalf("%s: got offset %d, want %d", name, r.Offset, want)
		}
		checkSeq(t, take(t, ch, 5), want+1)
	}
	seekTo("Seek", func() error { return k.Seek("seek", 0, 60) }, 60)
	seekTo("SeekToEarliest", func() error { return k.SeekToEarliest("seek") }, 0)
	seekTo("SeekToTime", func() error { return k.SeekToTime("seek", t0.Add(70*time.Second)) }, 70)
	if err := k.SeekToLatest("seek", 0); err != nil {
		t.Fatal(err)
	}
	// NB: the latest offset is the one when the new read starts: produce
	// until one comes.
	stop := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		p := c.Producer()
		defer p.Close()
		for i := 100; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := p.ProduceSync(ctx, &client.Record{Topic: "seek", Value: fmt.Appendf(nil, "p0-%d", i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	r := take(t, ch, 1)[0]
	if r.Offset < 100 {
		r = take(t, ch, 1)[0] // the one in hand
	}
	if r.Offset < 100 {
		t.Fatalf("after SeekToLatest: offset %d, want 100 or more", r.Offset)
	}
	checkSeq(t, take(t, ch, 1), r.Offset+1)
	close(stop)
	<-produced
}

// TestConsumerGroupSeekAndPause: a group member's partition sought back
// and paused is read on its own stream, and handed back to the member
// stream with neither a gap nor a repeat.
func TestConsumerGroupSeekAndPause(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "gseek", 2, 1)
	produceTo(t, c, "gseek", []int32{0, 1}, 0, 50)
	var logs syncBuffer
	lc, err := client.New(context.Background(), []string{b.addr},
		client.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	k := newConsumer(t, lc, client.WithGroup("gseek-g"), client.WithTopics("gseek"), client.WithFetchMaxBytes(256))
	ch := loop(t, k)
	got := byPartition(take(t, ch, 100))
	checkSeq(t, got[0], 0)
	checkSeq(t, got[1], 0)

	if err := k.Seek("gseek", 0, 10); err != nil {
		t.Fatal(err)
	}
	produceTo(t, c, "gseek", []int32{0, 1}, 50, 20)
	// 0: 10 to 69 again (the seek), then on; 1: 50 to 69.
	got = byPartition(take(t, ch, 60+20))
	checkSeq(t, got[0], 10)
	checkSeq(t, got[1], 50)
	produceTo(t, c, "gseek", []int32{0, 1}, 70, 10)
	got = byPartition(take(t, ch, 20))
	checkSeq(t, got[0], 70)
	checkSeq(t, got[1], 70)
	waitUntil(t, 30*time.Second, "the member stream serves partition 0 again", func() bool {
		return strings.Contains(logs.String(), "the member stream serves the partition again")
	})

	if err := k.Pause("gseek", 0); err != nil {
		t.Fatal(err)
	}
	if got := k.Paused(); !slices.Equal(got["gseek"], []int32{0}) {
		t.Fatalf("Paused: %v", got)
	}
	produceTo(t, c, "gseek", []int32{0, 1}, 80, 10)
	got = byPartition(take(t, ch, 10))
	if len(got[0]) > 0 {
		t.Fatalf("%d records of a paused partition", len(got[0]))
	}
	checkSeq(t, got[1], 80)
	if err := k.Resume("gseek", 0); err != nil {
		t.Fatal(err)
	}
	checkSeq(t, take(t, ch, 10), 80)
	produceTo(t, c, "gseek", []int32{0, 1}, 90, 10)
	got = byPartition(take(t, ch, 20))
	checkSeq(t, got[0], 90)
	checkSeq(t, got[1], 90)
}

func TestConsumerPauseResume(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "pause", 2, 1)
	k := newConsumer(t, c, client.WithAssignment(map[string][]int32{"pause": nil}))
	ch := loop(t, k)
	if err := k.Pause("pause", 0); err != nil {
		t.Fatal(err)
	}
	produceTo(t, c, "pause", []int32{0, 1}, 0, 20)
	got := byPartition(take(t, ch, 20))
	if len(got[0]) > 0 {
		t.Fatalf("%d records of a paused partition", len(got[0]))
	}
	checkSeq(t, got[1], 0)
	if err := k.Resume("pause"); err != nil {
		t.Fatal(err)
	}
	checkSeq(t, take(t, ch, 20), 0)
	if err := k.Pause("pause", 7); err == nil {
		t.Error("Pause of a partition not read: no error")
	}
}

func TestConsumerAutoCommit(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "auto", 1, 1)
	produceTo(t, c, "auto", []int32{0}, 0, 30)
	k := newConsumer(t, c, client.WithGroup("auto-g"), client.WithTopics("auto"), client.WithAutoCommit(50*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	for rec, err := range k.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Offset != int64(n) {
			t.Fatalf("offset %d, want %d", rec.Offset, n)
		}
		n++
		if n == 10 {
			break
		}
	}
	// The loop body returned for 0 to 9: auto-commit commits 10.
	waitUntil(t, 30*time.Second, "auto-commit commits 10", func() bool { return committed(t, c, "auto-g", "auto")[0] == 10 })
	// A second loop goes on where the first stopped.
	for rec, err := range k.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Offset != int64(n) {
			t.Fatalf("offset %d, want %d", rec.Offset, n)
		}
		if n++; n == 20 {
			break
		}
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, c, "auto-g", "auto")[0]; got != 20 {
		t.Fatalf("committed after Close: %d, want 20", got)
	}
}

// TestConsumerResumesFromCommitted: a member that commits part of what it
// read and closes without auto-commit; the next member of the group
// starts after the commit.
func TestConsumerResumesFromCommitted(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "resume", 2, 1)
	produceTo(t, c, "resume", []int32{0, 1}, 0, 50)
	ctx := context.Background()
	var last map[int32]*client.Record
	k1 := newConsumer(t, c, client.WithGroup("resume-g"), client.WithTopics("resume"), client.WithAutoCommit(0))
	ch := loop(t, k1)
	got := byPartition(take(t, ch, 100))
	last = map[int32]*client.Record{0: got[0][19], 1: got[1][29]}
	if err := k1.CommitRecords(ctx, last[0], last[1], got[0][3]); err != nil {
		t.Fatal(err)
	}
	if err := k1.Close(); err != nil {
		t.Fatal(err)
	}
	k2 := newConsumer(t, c, client.WithGroup("resume-g"), client.WithTopics("resume"))
	got = byPartition(take(t, loop(t, k2), 30+20))
	checkSeq(t, got[0], 20)
	checkSeq(t, got[1], 30)
}

// TestConsumerGroupRebalance: three members split six partitions; records
// are read once across the group, as members join after the first read
// everything, and as one closes.
func TestConsumerGroupRebalance(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "split", 6, 1)
	all := []int32{0, 1, 2, 3, 4, 5}

	var mu sync.Mutex
	seen := map[int32][]*client.Record{}
	owners := map[int32]map[int]bool{} // partition → members that returned its records
	var ks []*client.Consumer
	join := func() {
		i := len(ks)
		k := newConsumer(t, c, client.WithGroup("split-g"), client.WithTopics("split"), client.WithFetchMaxBytes(256))
		ks = append(ks, k)
		ch := loop(t, k)
		go func() {
			for r := range ch {
				mu.Lock()
				seen[*r.Partition] = append(seen[*r.Partition], r)
				if owners[*r.Partition] == nil {
					owners[*r.Partition] = map[int]bool{}
				}
				owners[*r.Partition][i] = true
				mu.Unlock()
			}
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, rs := range seen {
			n += len(rs)
		}
		return n
	}
	split := func(members []*client.Consumer) bool {
		n := 0
		for _, k := range members {
			ps := len(k.Assigned()["split"])
			if ps != 6/len(members) {
				return false
			}
			n += ps
		}
		return n == 6
	}
	// The first member reads everything; nothing is committed yet (the
	// interval is 5s) when the others join: the partitions it gives up
	// are committed as they go, so the others start after what it read.
	join()
	produceTo(t, c, "split", all, 0, 30)
	total := 180
	waitUntil(t, 60*time.Second, "180 records read", func() bool { return count() >= total })
	join()
	join()
	waitUntil(t, 60*time.Second, "three members split the partitions", func() bool { return split(ks) })
	produceTo(t, c, "split", all, 30, 30)
	total += 180
	waitUntil(t, 60*time.Second, "360 records read", func() bool { return count() >= total })
	mu.Lock()
	for p, o := range owners {
		if len(o) != 1 {
			t.Logf("partition %d was read by members %v", p, slices.Collect(maps.Keys(o)))
		}
	}
	mu.Unlock()

	start := time.Now()
	if err := ks[2].Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "two members split the partitions", func() bool { return split(ks[:2]) })
	t.Logf("the partitions of the member that closed moved in %v", time.Since(start))
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the partitions of a member that closed moved after %v: it did not release them", d)
	}
	produceTo(t, c, "split", all, 60, 30)
	total += 180
	waitUntil(t, 60*time.Second, "540 records read", func() bool { return count() >= total })
	if n := count(); n != total {
		t.Fatalf("%d records read, want %d", n, total)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range all {
		checkSeq(t, seen[p], 0) // every record once, in order, across the group
	}
}

// TestConsumerBrokerKilled: in a 3-broker cluster, the broker that leads
// partition 0 and that both consumers bootstrapped from (a group member's
// stream goes through it; a manual consumer reads partition 0 there) is
// killed while records stream; both go on through the others and return
// every record once.
func TestConsumerBrokerKilled(t *testing.T) {
	brokers := startCluster(t, 3)
	admin := newClient(t, brokers[0].addr, brokers[1].addr, brokers[2].addr)
	createTopic(t, admin, "kill", 3, 3)
	var leader int32
	waitUntil(t, 30*time.Second, "partition 0 has a leader", func() bool {
		resp, err := admin.Admin.DescribeTopic(context.Background(), &runnelv1.DescribeTopicRequest{Name: "kill"})
		if err != nil {
			return false
		}
		leader = resp.Partitions[0].Leader
		return leader != 0
	})
	victim := brokers[leader-1]
	addrs := []string{victim.addr}
	for _, b := range brokers {
		if b != victim {
			addrs = append(addrs, b.addr)
		}
	}
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, addrs, client.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all := []int32{0, 1, 2}
	pc := newClient(t, addrs[1:]...)
	produceTo(t, pc, "kill", all, 0, 100)
	k := newConsumer(t, c, client.WithGroup("kill-g"), client.WithTopics("kill"), client.WithFetchMaxBytes(512),
		client.WithAutoCommit(100*time.Millisecond))
	m := newConsumer(t, c, client.WithAssignment(map[string][]int32{"kill": nil}), client.WithFetchMaxBytes(512))
	kch, mch := loop(t, k), loop(t, m)
	got, mgot := take(t, kch, 150), take(t, mch, 150)

	victim.kill()
	t.Logf("killed broker %d, partition 0's leader and the consumers' bootstrap broker", leader)
	got, mgot = append(got, take(t, kch, 150)...), append(mgot, take(t, mch, 150)...)
	produceTo(t, pc, "kill", all, 100, 100)
	got, mgot = append(got, take(t, kch, 300)...), append(mgot, take(t, mch, 300)...)
	for name, recs := range map[string][]*client.Record{"group member": got, "manual": mgot} {
		for p, recs := range byPartition(recs) {
			if len(recs) != 200 {
				t.Errorf("%s: partition %d: %d records", name, p, len(recs))
			}
			checkSeq(t, recs, 0)
		}
	}
	select {
	case r := <-kch:
		t.Fatalf("one record more: %d/%d", *r.Partition, r.Offset)
	case r := <-mch:
		t.Fatalf("one record more: %d/%d", *r.Partition, r.Offset)
	default:
	}
	for _, want := range []string{"group member stream broke; re-attaching", "partition read broke; reading again"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("the consumers did not log %q:\n%s", want, logs.String())
		}
	}
	t.Logf("the consumers' log:\n%s", logs.String())
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestConsumerKilledStaticMember: a static member's process dies (its
// connections drop: no commit, no leave); the next process with the same
// instance id takes its partitions over at once and starts after the last
// commit, reading again what the first returned after it.
func TestConsumerKilledStaticMember(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "static", 2, 1)
	produceTo(t, c, "static", []int32{0, 1}, 0, 40)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dying, err := client.New(ctx, []string{b.addr})
	if err != nil {
		t.Fatal(err)
	}
	k1 := newConsumer(t, dying, client.WithGroup("static-g"), client.WithTopics("static"), client.WithInstanceID("host-1"),
		client.WithAutoCommit(0))
	got := byPartition(take(t, loop(t, k1), 80))
	if err := k1.CommitRecords(ctx, got[0][9], got[1][24]); err != nil {
		t.Fatal(err)
	}
	id := k1.MemberID()
	dying.Close() // as a kill -9 would: the connection drops

	k2 := newConsumer(t, c, client.WithGroup("static-g"), client.WithTopics("static"), client.WithInstanceID("host-1"))
	got = byPartition(take(t, loop(t, k2), 30+15))
	checkSeq(t, got[0], 10)
	checkSeq(t, got[1], 25)
	if k2.MemberID() != id {
		t.Errorf("the static member came back as %q, not %q", k2.MemberID(), id)
	}
}

// TestConsumerRemovedMemberJoinsAgain: a member paused while the broker
// sends it more cannot release a partition taken from it by committing
// its position (the documented caveat); the group removes it after the
// rebalance timeout, and it joins again as a new member. Nothing is lost:
// the records it never returned are read by the group.
func TestConsumerRemovedMemberJoinsAgain(t *testing.T) {
	b, err := launch(t.TempDir()+"/broker", nil, nil, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--peer-listen", "127.0.0.1:0", "--group-rebalance-timeout", "1s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	if err := b.waitServing(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, b.addr)
	createTopic(t, c, "fenced", 2, 1)
	produceTo(t, c, "fenced", []int32{0, 1}, 0, 20)
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c1, err := client.New(ctx, []string{b.addr}, client.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	var mu sync.Mutex
	var revoked []map[string][]int32
	k1 := newConsumer(t, c1, client.WithGroup("fenced-g"), client.WithTopics("fenced"), client.WithAutoCommit(0),
		client.OnRevoked(func(_ context.Context, ps map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			revoked = append(revoked, ps)
		}))
	ch1 := loop(t, k1)
	take(t, ch1, 40)
	if err := k1.Pause("fenced"); err != nil {
		t.Fatal(err)
	}
	produceTo(t, c, "fenced", []int32{0, 1}, 20, 10)
	k2 := newConsumer(t, c, client.WithGroup("fenced-g"), client.WithTopics("fenced"))
	ch2 := loop(t, k2)
	// Every record the first member did not return (20 to 29) is read by
	// one of them, from the group's committed offsets (none: the start).
	seen := map[int32]map[int64]bool{0: {}, 1: {}}
	for _, ch := range []<-chan *client.Record{ch1, ch2} {
		go func() {
			for r := range ch {
				mu.Lock()
				seen[*r.Partition][r.Offset] = true
				mu.Unlock()
			}
		}()
	}
	waitUntil(t, 60*time.Second, "the removed member joins again", func() bool {
		return strings.Contains(logs.String(), "the group removed this member; joining again")
	})
	waitUntil(t, 60*time.Second, "the two members split the partitions", func() bool {
		return len(k1.Assigned()["fenced"]) == 1 && len(k2.Assigned()["fenced"]) == 1
	})
	waitUntil(t, 60*time.Second, "records 20 to 29 read", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for p := range int32(2) {
			for o := int64(20); o < 30; o++ {
				if !seen[p][o] {
					return false
				}
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if len(revoked) == 0 {
		t.Error("OnRevoked was not called on the member the group removed")
	}
}

// TestConsumerPoll: Poll returns what is ready, up to its max; what it
// returned is committed once the next Poll (or Close) says it is done.
func TestConsumerPoll(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "poll", 1, 1)
	produceTo(t, c, "poll", []int32{0}, 0, 30)
	k := newConsumer(t, c, client.WithGroup("poll-g"), client.WithTopics("poll"), client.WithAutoCommit(20*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []*client.Record
	recs, err := k.Poll(ctx, 10)
	if err != nil || len(recs) != 10 {
		t.Fatalf("Poll(10): %d records, %v", len(recs), err)
	}
	got = append(got, recs...)
	for len(got) < 25 {
		recs, err := k.Poll(ctx, 25-len(got))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
	}
	checkSeq(t, got, 0)
	// The records of all Polls but the last are done: 0 to 9 at least.
	waitUntil(t, 30*time.Second, "auto-commit commits what earlier Polls returned", func() bool {
		return committed(t, c, "poll-g", "poll")[0] >= 10
	})
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if o := committed(t, c, "poll-g", "poll")[0]; o != 25 {
		t.Fatalf("committed after Close: %d, want 25", o)
	}
	if _, err := k.Poll(ctx, 1); err != client.ErrClosed {
		t.Fatalf("Poll after Close: %v, want ErrClosed", err)
	}
}

// TestConsumerCompressed: a consumer reads batches the producer
// compressed, each codec, as the broker stored them (the consumer accepts
// every codec), with their offsets, from an offset inside a batch too.
func TestConsumerCompressed(t *testing.T) {
	br := startBroker(t)
	c := newClient(t, br.addr)
	ctx := context.Background()
	for _, codec := range compression.Codecs[1:] {
		topic := "cz-" + codec.String()
		createTopic(t, c, topic, 1, 1)
		p := c.Producer(client.WithCompression(codec), client.WithLinger(time.Hour))
		for i := range 6 {
			p.Produce(ctx, &client.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}, nil)
		}
		if err := p.Close(); err != nil { // one batch, sent on the flush
			t.Fatal(err)
		}
		for _, from := range []int64{0, 4} {
			k, err := c.Consumer(ctx, client.WithAssignment(map[string][]int32{topic: {0}}))
			if err != nil {
				t.Fatal(err)
			}
			if from > 0 {
				if err := k.Seek(topic, 0, from); err != nil {
					t.Fatal(err)
				}
			}
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			var got []string
			for rec, err := range k.Records(rctx) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%d:%s", rec.Offset, rec.Value))
				if rec.Offset == 5 {
					break
				}
			}
			cancel()
			k.Close()
			want := []string{"0:v0", "1:v1", "2:v2", "3:v3", "4:v4", "5:v5"}[from:]
			if !slices.Equal(got, want) {
				t.Fatalf("%v from %d: read %q, want %q", codec, from, got, want)
			}
		}
	}
}

// TestConsumerStopAtEnd: WithStopAtEnd reads each partition to its high
// watermark as it was when its read started, and Records then ends with
// no error (Poll with io.EOF); records produced after the reads started
// are not read. A group member ends likewise, leaves, and Close commits
// what it returned; OnAssignment sees its assignment events.
func TestConsumerStopAtEnd(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	createTopic(t, c, "end", 2, 1)
	produceTo(t, c, "end", []int32{0}, 0, 10) // partition 1 stays empty
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	k := newConsumer(t, c, client.WithAssignment(map[string][]int32{"end": nil}), client.WithStopAtEnd())
	var got []*client.Record
	for rec, err := range k.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec)
		break // NB: the read has started, and its end is known: 10
	}
	produceTo(t, c, "end", []int32{0, 1}, 10, 5)
	for rec, err := range k.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec)
	}
	if ctx.Err() != nil {
		t.Fatal("Records did not end at the end")
	}
	checkSeq(t, got, 0)
	if len(got) != 10 {
		t.Fatalf("read %d records, want the 10 below the high watermark at the start", len(got))
	}
	if recs, err := k.Poll(ctx, 0); err != io.EOF || len(recs) != 0 {
		t.Fatalf("Poll after the end: %d records, %v; want io.EOF", len(recs), err)
	}

	var events []*runnelv1.GroupAssignment
	m := newConsumer(t, c, client.WithGroup("end-g"), client.WithTopics("end"), client.WithStopAtEnd(),
		client.OnAssignment(func(_ context.Context, a *runnelv1.GroupAssignment) { events = append(events, a) }))
	var n int
	for rec, err := range m.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		i := rec.Offset
		if *rec.Partition == 1 {
			i += 10 // produced from 10 on
		}
		if want := fmt.Sprintf("p%d-%d", *rec.Partition, i); string(rec.Value) != want {
			t.Fatalf("%s/%d offset %d: %q, want %q", rec.Topic, *rec.Partition, rec.Offset, rec.Value, want)
		}
		n++
	}
	if ctx.Err() != nil || n != 20 {
		t.Fatalf("the member read %d records, want 20, and the end (%v)", n, ctx.Err())
	}
	if len(events) == 0 || events[0].MemberId == "" || len(events[0].Partitions) != 1 || len(events[0].Partitions[0].Partitions) != 2 {
		t.Fatalf("OnAssignment events: %v, want the member's assignment of end[0 1]", events)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, c, "end-g", "end"); got[0] != 15 || got[1] != 5 {
		t.Fatalf("committed after Close: %v, want 0:15 1:5", got)
	}
}
