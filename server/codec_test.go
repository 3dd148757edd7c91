package server

import (
	"bytes"
	"math"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// wireFacts is what a ProduceRequest's top-level fields say, read with
// protowire independently of the codec, up to the first malformed field:
// whether partition or acks hold a varint outside the int32 range, or the
// topic bytes that are not UTF-8 (each occurrence, not only the last).
type wireFacts struct {
	int32Overflow, badTopic bool
}

func readWireFacts(b []byte) wireFacts {
	var w wireFacts
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return w
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return w
		}
		switch {
		case (num == 2 || num == 5) && typ == protowire.VarintType:
			v, _ := protowire.ConsumeVarint(b)
			w.int32Overflow = w.int32Overflow || int64(v) < math.MinInt32 || int64(v) > math.MaxInt32
		case num == 1 && typ == protowire.BytesType:
			v, _ := protowire.ConsumeBytes(b)
			w.badTopic = w.badTopic || !utf8.Valid(v)
		}
		b = b[n:]
	}
	return w
}

// FuzzProduceRequest feeds the server codec arbitrary ProduceRequest
// bytes. It must never panic. On every input protobuf accepts, the parser
// must read what protobuf reads (topic, partition, records,
// correlation_id, acks, leader_epoch), unless partition or acks overflow
// int32, which it must refuse; and scanCorrelationID and countRecords (the
// correlation_id of a request refused unread, wherever the gRPC buffers
// split it) must find protobuf's correlation_id. A topic that is not UTF-8
// is refused whatever else the message holds, and the codec honours its
// byte and record limits.
func FuzzProduceRequest(f *testing.F) {
	for _, req := range []*runnelv1.ProduceRequest{
		{Topic: "t", Records: []*runnelv1.Record{{Key: []byte("k"), Value: []byte("v")}}, CorrelationId: 9, Acks: runnelv1.Acks_ACKS_LEADER},
		{Topic: "t", Partition: proto.Int32(-1), Records: []*runnelv1.Record{{}, {}, {}}},
		{Topic: "t", Partition: proto.Int32(2147483647)},
		{Topic: "orders", Partition: proto.Int32(3), CorrelationId: 1 << 63, Acks: runnelv1.Acks_ACKS_ALL, LeaderEpoch: 12},
		{Topic: "ünïcode", Records: []*runnelv1.Record{{}, {}, {}, {}, {}}, CorrelationId: 77}, // over the record limit
		{Topic: "t", Partition: proto.Int32(math.MinInt32), Acks: runnelv1.Acks(-1)},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(3))
	}
	// partition 1<<32, past int32; acks likewise.
	f.Add(rawRequest("t", 1, 5, protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1<<32)...), uint16(0))
	f.Add(rawRequest("t", 2, 0, protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.VarintType), 1<<31)...), uint16(0))
	// A topic that is not UTF-8, then a valid one: still refused.
	f.Add(append(rawRequest("\xff", 3, 1), rawRequest("t", 3, 0)...), uint16(2))
	// Fields of other wire types under known numbers, an unknown field.
	f.Add(append(rawRequest("t", 4, 1), 0x15, 1, 2, 3, 4, 0x21, 1, 2, 3, 4, 5, 6, 7, 8, 0xfa, 0x01, 0x01, 0x00), uint16(9))
	// An unknown group (wire types 3 and 4) holding a field 4 of its own,
	// then the correlation_id: protobuf skips the group whole.
	f.Add(append(rawRequest("t", 0, 1), 0x3b, 0x20, 0x07, 0x3c, 0x20, 0x05), uint16(4))
	f.Add([]byte{0x1a, 0x64}, uint16(1))
	const maxRecords, maxBytes = 4, 1 << 10
	c := newServerCodec(requestLimits{bytes: maxBytes, records: maxRecords})
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		var r produceRequest
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(bytes.Clone(data))}, &r); err != nil {
			t.Fatalf("Unmarshal returned %v: a malformed request is the request's error", err)
		}
		if r.err == nil && (len(data) > maxBytes || len(r.records) > maxRecords) {
			t.Fatalf("accepted %d bytes, %d records, over the limits", len(data), len(r.records))
		}
		facts := readWireFacts(data)
		var u produceRequest // no record limit
		perr := u.parse(bytes.Clone(data), 0)
		if facts.badTopic && perr == nil {
			t.Fatalf("accepted a topic that is not UTF-8: %q", u.topic)
		}
		if facts.int32Overflow && perr == nil {
			t.Fatalf("accepted partition %v, acks %d: a varint out of the int32 range", u.partition, u.acks)
		}

		var want runnelv1.ProduceRequest
		if err := proto.Unmarshal(data, &want); err != nil {
			return // records are checked later, by the broker
		}
		k := int(split) % (len(data) + 1)
		if id := scanCorrelationID(mem.BufferSlice{mem.SliceBuffer(data[:k]), mem.SliceBuffer(data[k:])}); id != want.CorrelationId {
			t.Fatalf("scanCorrelationID (buffers split at %d) = %d, protobuf reads %d", k, id, want.CorrelationId)
		}
		if n, id := countRecords(data); n != len(want.Records) || id != want.CorrelationId {
			t.Fatalf("countRecords = %d records, id %d; protobuf reads %d, %d", n, id, len(want.Records), want.CorrelationId)
		}
		if facts.int32Overflow {
			return // refused above; protobuf truncates
		}
		if perr != nil {
			t.Fatalf("refused a request protobuf reads as %v: %v", &want, perr)
		}
		if r.err != nil && len(data) <= maxBytes && len(want.Records) <= maxRecords {
			t.Fatalf("the codec refused a request within its limits that protobuf reads as %v: %v", &want, r.err)
		}
		if r.err != nil && r.correlationID != want.CorrelationId {
			t.Fatalf("refused request answered under id %d, protobuf reads %d", r.correlationID, want.CorrelationId)
		}
		if u.topic != want.Topic || u.correlationID != want.CorrelationId || u.acks != want.Acks ||
			u.leaderEpoch != want.LeaderEpoch ||
			(u.partition == nil) != (want.Partition == nil) || u.partition != nil && *u.partition != *want.Partition ||
			len(u.records) != len(want.Records) {
			t.Fatalf("parser read topic %q partition %v id %d acks %v epoch %d, %d records; protobuf %v", u.topic, u.partition,
				u.correlationID, u.acks, u.leaderEpoch, len(u.records), &want)
		}
		for i, rec := range u.records {
			var got runnelv1.Record
			if err := proto.Unmarshal(rec, &got); err != nil || !proto.Equal(&got, want.Records[i]) {
				t.Fatalf("record %d: %v %v, want %v", i, &got, err, want.Records[i])
			}
		}
	})
}
