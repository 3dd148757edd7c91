package server

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// FuzzProduceRequest feeds the server codec arbitrary ProduceRequest
// bytes: it must never panic, must honour the record limit, and whatever
// it accepts must read as protobuf reads it.
func FuzzProduceRequest(f *testing.F) {
	for _, req := range []*runnelv1.ProduceRequest{
		{Topic: "t", Records: []*runnelv1.Record{{Key: []byte("k"), Value: []byte("v")}}, CorrelationId: 9, Acks: runnelv1.Acks_ACKS_LEADER},
		{Topic: "t", Partition: proto.Int32(-1), Records: []*runnelv1.Record{{}, {}, {}}},
		{Topic: "t", Partition: proto.Int32(2147483647)},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(rawRequest("t", 1, 5, protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1<<32)...))
	f.Add([]byte{0x1a, 0x64})
	const maxRecords = 4
	c := newServerCodec(requestLimits{bytes: 1 << 10, records: maxRecords})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r produceRequest
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(bytes.Clone(data))}, &r); err != nil {
			t.Fatalf("Unmarshal returned %v: a malformed request is the request's error", err)
		}
		if r.err != nil {
			return
		}
		if len(data) > 1<<10 || len(r.records) > maxRecords {
			t.Fatalf("accepted %d bytes, %d records, over the limits", len(data), len(r.records))
		}
		var want runnelv1.ProduceRequest
		if err := proto.Unmarshal(data, &want); err != nil {
			return // records are checked later, by the broker
		}
		if r.topic != want.Topic || r.correlationID != want.CorrelationId || r.acks != want.Acks ||
			(r.partition == nil) != (want.Partition == nil) || r.partition != nil && *r.partition != *want.Partition ||
			len(r.records) != len(want.Records) {
			t.Fatalf("codec read topic %q partition %v id %d acks %v %d records; protobuf %v", r.topic, r.partition,
				r.correlationID, r.acks, len(r.records), &want)
		}
		for i, rec := range r.records {
			var got runnelv1.Record
			if err := proto.Unmarshal(rec, &got); err != nil || !proto.Equal(&got, want.Records[i]) {
				t.Fatalf("record %d: %v %v, want %v", i, &got, err, want.Records[i])
			}
		}
	})
}
