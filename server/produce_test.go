package server

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/partitioner"
)

func TestProduceAndReadBack(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("orders", 4, nil)
	ts := timestamppb.New(timestamppb.Now().AsTime().Add(-3600e9))
	var sent []*runnelv1.Record
	for i := range 50 {
		sent = append(sent, &runnelv1.Record{
			Key:     []byte(fmt.Sprintf("user-%d", i%7)),
			Value:   []byte(fmt.Sprintf("event %d", i)),
			Headers: []*runnelv1.Header{{Key: "source", Value: []byte("test")}, {Key: "i", Value: []byte{byte(i)}}},
		})
	}
	sent[3].Timestamp = ts
	acks := mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "orders", Records: sent}))

	// Keyed records land where Kafka's partitioner puts them, in order,
	// with contiguous offsets per partition starting at the ack's base.
	want := map[int32][]*runnelv1.Record{}
	for _, r := range sent {
		p := partitioner.ForKey(r.Key, 4)
		want[p] = append(want[p], r)
	}
	for _, a := range acks {
		if a.BaseOffset != 0 || int(a.RecordCount) != len(want[a.Partition]) {
			t.Fatalf("ack %v, want base 0 and %d records", a, len(want[a.Partition]))
		}
	}
	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	for p, recs := range want {
		if len(got[p]) != len(recs) {
			t.Fatalf("partition %d: got %d records, want %d", p, len(got[p]), len(recs))
		}
		for i, r := range got[p] {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d record %d has offset %d", p, i, r.Offset)
			}
			w := proto.Clone(recs[i]).(*runnelv1.Record)
			w.Offset, w.Timestamp = r.Offset, r.Timestamp
			if !proto.Equal(r, w) {
				t.Fatalf("partition %d offset %d = %v, want %v", p, i, r, w)
			}
			if r.Timestamp == nil {
				t.Fatalf("record without timestamp: %v", r)
			}
		}
	}
	// A producer's timestamp is kept.
	p3 := partitioner.ForKey(sent[3].Key, 4)
	idx := slices.IndexFunc(got[p3], func(r *runnelv1.Record) bool { return string(r.Value) == "event 3" })
	if !got[p3][idx].Timestamp.AsTime().Equal(ts.AsTime()) {
		t.Fatalf("timestamp %v, want %v", got[p3][idx].Timestamp.AsTime(), ts.AsTime())
	}
}

// TestPipelinedRequestsKeepOrder sends many requests on one stream without
// waiting and checks offsets follow request order.
func TestPipelinedRequestsKeepOrder(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("log", 1, nil)
	var reqs []*runnelv1.ProduceRequest
	for i := range 200 {
		reqs = append(reqs, &runnelv1.ProduceRequest{Topic: "log", CorrelationId: uint64(i), Records: records(fmt.Sprint(2*i), fmt.Sprint(2*i+1))})
	}
	for i, resp := range b.produceAll(reqs...) {
		a := mustAck(t, resp)
		if resp.CorrelationId != uint64(i) || a[0].BaseOffset != int64(2*i) || a[0].RecordCount != 2 {
			t.Fatalf("response %d: id %d acks %v", i, resp.CorrelationId, a)
		}
	}
	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "log", MaxBatchBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got[0] {
		if string(r.Value) != fmt.Sprint(i) || r.Offset != int64(i) {
			t.Fatalf("offset %d holds %q (offset field %d)", i, r.Value, r.Offset)
		}
	}
	if len(got[0]) != 400 {
		t.Fatalf("read %d records, want 400", len(got[0]))
	}
}

// TestKeylessRecordsSpread checks that keyless requests rotate over the
// partitions, each request staying in one partition.
func TestKeylessRecordsSpread(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("spread", 3, nil)
	seen := map[int32]int{}
	for range 9 {
		acks := mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "spread", Records: records("a", "b")}))
		if len(acks) != 1 || acks[0].RecordCount != 2 {
			t.Fatalf("keyless request split: %v", acks)
		}
		seen[acks[0].Partition]++
	}
	if len(seen) != 3 {
		t.Fatalf("9 keyless requests went to partitions %v, want all 3", seen)
	}
}
