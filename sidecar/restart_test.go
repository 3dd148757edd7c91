package sidecar_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/raftstore/spool"
)

// TestGroupsSentBeforeACrashAreSentAgainAsTheyWere builds the spool a
// sidecar killed mid-forwarding leaves: batches spooled, two groups of
// them sent to the partition and appended, the cursor not moved past
// them (their acks were lost with the process). A sidecar started on it
// sends those groups again exactly as recorded, the partition
// acknowledges them as duplicates, and every record is in the cluster
// once, in order.
func TestGroupsSentBeforeACrashAreSentAgainAsTheyWere(t *testing.T) {
	b := startBroker(t)
	direct := dial(t, b.addr)
	createTopic(t, direct, "t", 1, nil)
	ctx := context.Background()
	init, err := direct.produce.InitProducer(ctx, &runnelv1.InitProducerRequest{})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.UpstreamProducer(func() (int64, error) { return init.ProducerId, nil }); err != nil {
		t.Fatal(err)
	}
	q, err := sp.Queue("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The sidecar's payloads: a ProduceRequest with only records.
	var spooled []spool.Batch
	for i := range 10 {
		var recs []*runnelv1.Record
		for j := range 3 {
			recs = append(recs, &runnelv1.Record{Value: []byte(fmt.Sprintf("r%02d", 3*i+j))})
		}
		payload, _ := proto.Marshal(&runnelv1.ProduceRequest{Records: recs})
		a, err := q.Append(spool.Batch{Count: 3, SpooledAt: time.Now().UnixMilli(), Payload: payload})
		if err == nil {
			err = q.Sync(a)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	bs, _, err := q.Read(0, 1<<20)
	if err != nil || len(bs) != 10 {
		t.Fatalf("read the spool: %d batches, %v", len(bs), err)
	}
	spooled = bs
	// Two groups sent and appended: batches 0-3 and 4-6.
	p := int32(0)
	var reqs []*runnelv1.ProduceRequest
	for _, g := range [][2]int{{0, 4}, {4, 7}} {
		req := &runnelv1.ProduceRequest{Topic: "t", Partition: &p, ProducerId: init.ProducerId, BaseSequence: spooled[g[0]].Offset}
		for _, sb := range spooled[g[0]:g[1]] {
			if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(sb.Payload, req); err != nil {
				t.Fatal(err)
			}
		}
		reqs = append(reqs, req)
	}
	for i, resp := range produce(t, direct, reqs...) {
		if resp.Error != nil {
			t.Fatalf("group %d: %v", i, resp.Error)
		}
	}
	c := q.Cursor().WithPending([]int64{spooled[3].End(), spooled[6].End()})
	if err := q.Advance(c); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	sc := startSidecar(t, dir, 64<<20, b.addr)
	waitFor(t, 30*time.Second, "the spool to drain", drained(sc))
	recs := readAll(t, direct, "t", 0)
	if len(recs) != 30 {
		t.Fatalf("%d records in the partition, 30 spooled", len(recs))
	}
	for i, r := range recs {
		if want := fmt.Sprintf("r%02d", i); string(r.Value) != want {
			t.Fatalf("record %d is %q, want %q", i, r.Value, want)
		}
	}
}
