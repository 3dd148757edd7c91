package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestBadInput sends each kind of bad request and checks the status code
// and that the message names what is wrong. The broker must keep serving.
func TestBadInput(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	b.createTopic("orders", 3, map[string]string{"max.message.bytes": "1000"})
	b.createTopic("doomed", 1, nil)
	b.createTopic("recent", 1, map[string]string{"message.timestamp.before.max.ms": "86400000"})
	if _, err := b.client.Admin.DeleteTopic(ctx, &runnelv1.DeleteTopicRequest{Name: "doomed"}); err != nil {
		t.Fatal(err)
	}

	create := func(req *runnelv1.CreateTopicRequest) error {
		_, err := b.client.Admin.CreateTopic(ctx, req)
		return err
	}
	subscribe := func(req *runnelv1.SubscribeRequest) error {
		_, err := b.readAll(req)
		return err
	}
	produceErr := func(req *runnelv1.ProduceRequest) error {
		resp := b.produce(req)
		if resp.Error == nil {
			return nil
		}
		return status.ErrorProto(resp.Error)
	}
	reassign := func(topic string, p int32, replicas ...int32) func() error {
		return func() error {
			_, err := b.client.Admin.ReassignPartition(ctx, &runnelv1.ReassignPartitionRequest{Topic: topic, Partition: p, Replicas: replicas})
			return err
		}
	}
	for _, tc := range []struct {
		name    string
		call    func() error
		code    codes.Code
		mention string
	}{
		{"reassign unknown topic", reassign("nope", 0, 1), codes.NotFound, "nope"},
		{"reassign missing partition", reassign("orders", 7, 1), codes.InvalidArgument, "partition 7"},
		{"reassign to no broker", reassign("orders", 0), codes.InvalidArgument, "no replicas"},
		{"reassign to unknown broker", reassign("orders", 0, 1, 9), codes.InvalidArgument, "broker 9"},
		{"reassign to a broker twice", reassign("orders", 0, 1, 1), codes.InvalidArgument, "twice"},
		{"create existing topic", func() error { return create(&runnelv1.CreateTopicRequest{Name: "orders", Partitions: 1}) }, codes.AlreadyExists, "orders"},
		{"create bad name", func() error { return create(&runnelv1.CreateTopicRequest{Name: "bad name", Partitions: 1}) }, codes.InvalidArgument, "letters, digits"},
		{"create empty name", func() error { return create(&runnelv1.CreateTopicRequest{Name: "", Partitions: 1}) }, codes.InvalidArgument, "empty"},
		{"create long name", func() error {
			return create(&runnelv1.CreateTopicRequest{Name: strings.Repeat("x", 250), Partitions: 1})
		}, codes.InvalidArgument, "249"},
		{"create zero partitions", func() error { return create(&runnelv1.CreateTopicRequest{Name: "z", Partitions: 0}) }, codes.InvalidArgument, "partitions"},
		{"create negative partitions", func() error { return create(&runnelv1.CreateTopicRequest{Name: "z", Partitions: -3}) }, codes.InvalidArgument, "partitions"},
		{"create unknown config key", func() error {
			return create(&runnelv1.CreateTopicRequest{Name: "z", Partitions: 1, Config: map[string]string{"retention.hours": "1"}})
		}, codes.InvalidArgument, "retention.hours"},
		{"create bad config value", func() error {
			return create(&runnelv1.CreateTopicRequest{Name: "z", Partitions: 1, Config: map[string]string{"retention.ms": "soon"}})
		}, codes.InvalidArgument, "retention.ms"},
		{"create replication beyond brokers", func() error {
			return create(&runnelv1.CreateTopicRequest{Name: "z", Partitions: 1, ReplicationFactor: 3})
		}, codes.InvalidArgument, "replication factor"},
		{"delete unknown topic", func() error {
			_, err := b.client.Admin.DeleteTopic(ctx, &runnelv1.DeleteTopicRequest{Name: "nope"})
			return err
		}, codes.NotFound, "nope"},
		{"describe unknown topic", func() error {
			_, err := b.client.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "nope"})
			return err
		}, codes.NotFound, "nope"},
		{"produce unknown topic", func() error { return produceErr(&runnelv1.ProduceRequest{Topic: "nope", Records: records("x")}) }, codes.NotFound, "nope"},
		{"produce deleted topic", func() error { return produceErr(&runnelv1.ProduceRequest{Topic: "doomed", Records: records("x")}) }, codes.NotFound, "doomed"},
		{"produce missing partition", func() error {
			return produceErr(&runnelv1.ProduceRequest{Topic: "orders", Partition: ptr(int32(3)), Records: records("x")})
		}, codes.InvalidArgument, "partition 3"},
		{"produce negative partition", func() error {
			return produceErr(&runnelv1.ProduceRequest{Topic: "orders", Partition: ptr(int32(-1)), Records: records("x")})
		}, codes.InvalidArgument, "partition -1"},
		{"produce oversized record", func() error {
			return produceErr(&runnelv1.ProduceRequest{Topic: "orders", Records: records(strings.Repeat("x", 2000))})
		}, codes.InvalidArgument, "max.message.bytes of 1000"},
		{"produce unknown acks", func() error {
			return produceErr(&runnelv1.ProduceRequest{Topic: "orders", Records: records("x"), Acks: runnelv1.Acks(7)})
		}, codes.InvalidArgument, "acks 7"},
		{"produce no records", func() error { return produceErr(&runnelv1.ProduceRequest{Topic: "orders"}) }, codes.InvalidArgument, "no records"},
		{"produce bad timestamp", func() error {
			return produceErr(&runnelv1.ProduceRequest{Topic: "orders", Records: []*runnelv1.Record{{Value: []byte("x"), Timestamp: &timestamppb.Timestamp{Nanos: -5}}}})
		}, codes.InvalidArgument, "timestamp"},
		{"subscribe unknown topic", func() error { return subscribe(&runnelv1.SubscribeRequest{Topic: "nope"}) }, codes.NotFound, "nope"},
		{"subscribe missing partition", func() error {
			return subscribe(&runnelv1.SubscribeRequest{Topic: "orders", Partitions: []int32{7}})
		}, codes.InvalidArgument, "partition 7"},
		{"subscribe duplicate partitions", func() error {
			return subscribe(&runnelv1.SubscribeRequest{Topic: "orders", Partitions: []int32{1, 0, 1}})
		}, codes.InvalidArgument, "twice"},
		{"subscribe offset past high watermark", func() error {
			return subscribe(&runnelv1.SubscribeRequest{Topic: "orders", StartPosition: runnelv1.StartPosition_START_POSITION_OFFSET, StartOffset: 5})
		}, codes.OutOfRange, "offset 5"},
		{"subscribe negative offset", func() error {
			return subscribe(&runnelv1.SubscribeRequest{Topic: "orders", StartPosition: runnelv1.StartPosition_START_POSITION_OFFSET, StartOffset: -1})
		}, codes.InvalidArgument, "start offset -1 is negative"},
		{"subscribe long group name", func() error {
			return subscribe(&runnelv1.SubscribeRequest{Topic: "orders", Group: strings.Repeat("g", 256)})
		}, codes.InvalidArgument, "limit is 255"},
		{"commit long group name", func() error {
			_, err := b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: strings.Repeat("g", 256), Topic: "orders", Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: 1}}})
			return err
		}, codes.InvalidArgument, "limit is 255"},
		{"fetch committed long group name", func() error {
			_, err := b.client.Commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: strings.Repeat("g", 256), Topic: "orders"})
			return err
		}, codes.InvalidArgument, "limit is 255"},
		{"produce oversized header", func() error {
			return produceErr(&runnelv1.ProduceRequest{Topic: "orders", Records: []*runnelv1.Record{{Value: []byte("x"),
				Headers: []*runnelv1.Header{{Key: "h", Value: make([]byte, 2000)}}}}})
		}, codes.InvalidArgument, "max.message.bytes of 1000"},
		{"produce timestamp far ahead", func() error {
			return produceErr(&runnelv1.ProduceRequest{Topic: "orders", Records: []*runnelv1.Record{
				{Value: []byte("ok")},
				{Value: []byte("x"), Timestamp: &timestamppb.Timestamp{Seconds: 253402300799}}}})
		}, codes.InvalidArgument, "record 1: timestamp 9999-12-31"},
		{"produce timestamp two hours ahead", func() error {
			return produceErr(&runnelv1.ProduceRequest{Topic: "orders", Records: []*runnelv1.Record{
				{Value: []byte("x"), Timestamp: timestamppb.New(time.Now().Add(2 * time.Hour))}}})
		}, codes.InvalidArgument, "message.timestamp.after.max.ms of 3600000"},
		{"produce timestamp before bound", func() error {
			return produceErr(&runnelv1.ProduceRequest{Topic: "recent", Records: []*runnelv1.Record{
				{Value: []byte("x"), Timestamp: timestamppb.New(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))}}})
		}, codes.InvalidArgument, "message.timestamp.before.max.ms of 86400000"},
		{"create retention.bytes 0", func() error {
			return create(&runnelv1.CreateTopicRequest{Name: "z", Partitions: 1, Config: map[string]string{"retention.bytes": "0"}})
		}, codes.InvalidArgument, "use -1 for no limit"},
		{"create unknown timestamp type", func() error {
			return create(&runnelv1.CreateTopicRequest{Name: "z", Partitions: 1, Config: map[string]string{"message.timestamp.type": "WallTime"}})
		}, codes.InvalidArgument, "CreateTime or LogAppendTime"},
		{"create negative timestamp bound", func() error {
			return create(&runnelv1.CreateTopicRequest{Name: "z", Partitions: 1, Config: map[string]string{"message.timestamp.after.max.ms": "-1"}})
		}, codes.InvalidArgument, "message.timestamp.after.max.ms"},
		{"subscribe committed without group", func() error {
			return subscribe(&runnelv1.SubscribeRequest{Topic: "orders", StartPosition: runnelv1.StartPosition_START_POSITION_COMMITTED})
		}, codes.InvalidArgument, "group"},
		{"subscribe timestamp without time", func() error {
			return subscribe(&runnelv1.SubscribeRequest{Topic: "orders", StartPosition: runnelv1.StartPosition_START_POSITION_TIMESTAMP})
		}, codes.InvalidArgument, "start_time"},
		{"subscribe unknown start position", func() error {
			return subscribe(&runnelv1.SubscribeRequest{Topic: "orders", StartPosition: 42})
		}, codes.InvalidArgument, "start position"},
		{"subscribe negative max bytes", func() error {
			return subscribe(&runnelv1.SubscribeRequest{Topic: "orders", MaxBatchBytes: -1})
		}, codes.InvalidArgument, "max_batch_bytes"},
		{"commit without group", func() error {
			_, err := b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Topic: "orders", Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: 1}}})
			return err
		}, codes.InvalidArgument, "group"},
		{"commit unknown topic", func() error {
			_, err := b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: "g", Topic: "nope", Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: 1}}})
			return err
		}, codes.NotFound, "nope"},
		{"commit missing partition", func() error {
			_, err := b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: "g", Topic: "orders", Offsets: []*runnelv1.PartitionOffset{{Partition: 9, Offset: 1}}})
			return err
		}, codes.InvalidArgument, "partition 9"},
		{"commit negative offset", func() error {
			_, err := b.client.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: "g", Topic: "orders", Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: -4}}})
			return err
		}, codes.InvalidArgument, "negative"},
		{"fetch committed unknown topic", func() error {
			_, err := b.client.Commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: "g", Topic: "nope"})
			return err
		}, codes.NotFound, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, tc.name, err, tc.code)
			if msg := status.Convert(err).Message(); !strings.Contains(msg, tc.mention) {
				t.Fatalf("message %q does not mention %q", msg, tc.mention)
			}
		})
	}

	// After all that, the broker still works.
	acks := mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "orders", Partition: ptr(int32(0)), Records: records("ok")}))
	if len(acks) != 1 || acks[0].BaseOffset != 0 {
		t.Fatalf("acks after bad input = %v", acks)
	}
}

// TestProduceErrorKeepsStreamOpen checks that a failed request on a
// pipelined stream gets its own error while the requests around it
// succeed, in order.
func TestProduceErrorKeepsStreamOpen(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("orders", 1, nil)
	resps := b.produceAll(
		&runnelv1.ProduceRequest{Topic: "orders", Records: records("a"), CorrelationId: 1},
		&runnelv1.ProduceRequest{Topic: "nope", Records: records("b"), CorrelationId: 2},
		&runnelv1.ProduceRequest{Topic: "orders", Records: records("c"), CorrelationId: 3},
	)
	for i, r := range resps {
		if r.CorrelationId != uint64(i+1) {
			t.Fatalf("response %d has correlation id %d", i, r.CorrelationId)
		}
	}
	if resps[1].Error == nil || codes.Code(resps[1].Error.Code) != codes.NotFound {
		t.Fatalf("response 2 error = %v, want NotFound", resps[1].Error)
	}
	if a := mustAck(t, resps[2]); a[0].BaseOffset != 1 {
		t.Fatalf("third request acked at %d, want 1", a[0].BaseOffset)
	}
}

// rawRequest encodes a ProduceRequest by hand, to send what no protobuf
// library would: n empty records, and varints outside the int32 range.
func rawRequest(topic string, id uint64, emptyRecords int, extra ...byte) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendString(b, topic)
	b = protowire.AppendTag(b, 4, protowire.VarintType)
	b = protowire.AppendVarint(b, id)
	for range emptyRecords {
		b = append(b, 0x1a, 0x00) // field 3, length 0
	}
	return append(b, extra...)
}

// sendRaw pipelines raw requests on one Produce stream and returns the
// responses, in order.
func (b *testBroker) sendRaw(msgs ...[]byte) []*runnelv1.ProduceResponse {
	b.t.Helper()
	stream, err := b.rawProduceStream()
	if err != nil {
		b.t.Fatal(err)
	}
	for _, m := range msgs {
		if err := stream.SendMsg(&m); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		b.t.Fatal(err)
	}
	var out []*runnelv1.ProduceResponse
	for range msgs {
		var raw []byte
		if err := stream.RecvMsg(&raw); err != nil {
			b.t.Fatalf("response %d: %v", len(out), err)
		}
		resp := &runnelv1.ProduceResponse{}
		if err := proto.Unmarshal(raw, resp); err != nil {
			b.t.Fatal(err)
		}
		out = append(out, resp)
	}
	return out
}

// TestProduceRequestLimits sends requests over the broker's size and
// record count limits, and varints past int32: each is refused
// InvalidArgument under its correlation id, saying the limit and the fix,
// before its records are parsed; the stream goes on serving.
func TestProduceRequestLimits(t *testing.T) {
	b := startBrokerWith(t, "", func(c *Config) { c.MaxRequestBytes, c.MaxRequestRecords = 64<<10, 1000 })
	b.createTopic("t", 2, nil)
	bigValue := make([]byte, 70<<10)
	tooBig, err := proto.Marshal(&runnelv1.ProduceRequest{Topic: "t", CorrelationId: 1, Records: []*runnelv1.Record{{Value: bigValue}}})
	if err != nil {
		t.Fatal(err)
	}
	partition := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1<<32)
	acks := protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.VarintType), 1<<32+1)
	resps := b.sendRaw(
		tooBig,
		rawRequest("t", 2, 1001),
		rawRequest("t", 3, 1, partition...),
		rawRequest("t", 4, 1, acks...),
		rawRequest("t", 5, 1000),
	)
	checks := []struct {
		mentions []string
	}{
		{[]string{"the request is 716", "bytes, over the broker's limit of 65536", "--max-request-bytes", "send fewer or smaller records"}},
		{[]string{"1001 records, over the broker's limit of 1000", "--max-request-records"}},
		{[]string{"partition 4294967296 is out of the int32 range"}},
		{[]string{"acks 4294967297 is out of the int32 range"}},
	}
	for i, c := range checks {
		r := resps[i]
		if r.CorrelationId != uint64(i+1) {
			t.Fatalf("response %d has correlation id %d", i, r.CorrelationId)
		}
		st := status.FromProto(r.Error)
		if st.Code() != codes.InvalidArgument {
			t.Fatalf("response %d: %v (%v), want InvalidArgument", i, st.Code(), st.Message())
		}
		for _, m := range c.mentions {
			if !strings.Contains(st.Message(), m) {
				t.Fatalf("response %d: message %q does not mention %q", i, st.Message(), m)
			}
		}
	}
	// Empty records at the count limit are records like any other.
	acked := mustAck(t, resps[4])
	if len(acked) != 1 || acked[0].RecordCount != 1000 {
		t.Fatalf("acks of 1000 empty records: %v", acked)
	}
	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "t", Partitions: []int32{acked[0].Partition}})
	if err != nil {
		t.Fatal(err)
	}
	if recs := got[acked[0].Partition]; len(recs) != 1000 || len(recs[999].Value) != 0 || recs[999].Timestamp == nil {
		t.Fatalf("read back %d records", len(recs))
	}
}

// TestEmptyRecordFlood sends the request: 4M empty records in
// 8 MiB, under the default size limit. The count is refused before a
// record is kept.
func TestEmptyRecordFlood(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("t", 1, nil)
	resps := b.sendRaw(rawRequest("t", 7, 4<<20), rawRequest("t", 8, 1))
	st := status.FromProto(resps[0].Error)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "4194304 records, over the broker's limit of 100000") {
		t.Fatalf("4M empty records: %v %q", st.Code(), st.Message())
	}
	if resps[0].CorrelationId != 7 {
		t.Fatalf("correlation id %d, want 7", resps[0].CorrelationId)
	}
	mustAck(t, resps[1])
}

// TestTimestampTypes checks that CreateTime keeps a producer's old
// timestamp by default (Kafka's before.max.ms has no bound) and that
// LogAppendTime replaces it with the broker's.
func TestTimestampTypes(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("create", 1, nil)
	b.createTopic("append", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	old := &timestamppb.Timestamp{Seconds: 946684800, Nanos: 123} // 2000-01-01
	before := time.Now().Add(-time.Second)
	for _, topic := range []string{"create", "append"} {
		mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: topic, Records: []*runnelv1.Record{{Value: []byte("x"), Timestamp: old}}}))
	}
	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "create"})
	if err != nil {
		t.Fatal(err)
	}
	if ts := got[0][0].Timestamp; !proto.Equal(ts, old) {
		t.Fatalf("CreateTime kept %v, want %v", ts, old)
	}
	got, err = b.readAll(&runnelv1.SubscribeRequest{Topic: "append"})
	if err != nil {
		t.Fatal(err)
	}
	if ts := got[0][0].Timestamp.AsTime(); ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Fatalf("LogAppendTime stored %v, want about now", ts)
	}
}

// TestOversizedMessageEndsStream sends a message over the 64 MiB gRPC
// limit: gRPC refuses it from its length prefix, ending the stream with
// RESOURCE_EXHAUSTED (as documented), and the broker goes on serving.
func TestOversizedMessageEndsStream(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("t", 1, nil)
	stream, err := b.rawProduceStream()
	if err != nil {
		t.Fatal(err)
	}
	huge := make([]byte, maxMessageBytes+1)
	_ = stream.SendMsg(&huge) // may fail once the server has ended the stream
	var raw []byte
	wantCode(t, "message over the gRPC limit", stream.RecvMsg(&raw), codes.ResourceExhausted)
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "t", Records: records("after")}))
}
