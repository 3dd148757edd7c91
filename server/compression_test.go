package server

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// compress encodes recs as a compressed batch, as an SDK does.
func compress(t *testing.T, c compression.Codec, recs []*runnelv1.Record) *runnelv1.CompressedRecords {
	t.Helper()
	var plain []byte
	for _, r := range recs {
		b, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		plain = protowire.AppendBytes(plain, b)
	}
	z, err := compression.Compress(nil, plain, c)
	if err != nil {
		t.Fatal(err)
	}
	return &runnelv1.CompressedRecords{Compression: runnelv1.Compression(c), Data: z, RecordCount: int32(len(recs))}
}

func stamped(vals ...string) []*runnelv1.Record {
	recs := records(vals...)
	for _, r := range recs {
		r.Timestamp = timestamppb.Now()
	}
	return recs
}

// subscribeBatches reads partition 0 of topic to its end, accepting
// codecs, and returns the batches.
func (b *testBroker) subscribeBatches(topic string, accept ...runnelv1.Compression) []*runnelv1.RecordBatch {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := b.client.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: topic, Partitions: []int32{0}, AcceptCompression: accept})
	if err != nil {
		b.t.Fatal(err)
	}
	var out []*runnelv1.RecordBatch
	for {
		resp, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.OK && !strings.Contains(err.Error(), "EOF") {
				b.t.Fatalf("subscribe: %v", err)
			}
			return out
		}
		out = append(out, resp.Batch)
	}
}

// plainValues are the values of batches of plain records, with their offsets.
func plainValues(t *testing.T, batches []*runnelv1.RecordBatch) []string {
	t.Helper()
	var out []string
	for _, b := range batches {
		if b.Compressed != nil {
			t.Fatalf("a compressed batch (%v) for a subscriber that did not accept it", b.Compressed.Compression)
		}
		for _, r := range b.Records {
			out = append(out, fmt.Sprintf("%d:%s", r.Offset, r.Value))
		}
	}
	return out
}

// TestCompressedProduce: a compressed batch is stored as sent, goes as
// stored to a subscriber that accepts its codec and as plain records to
// one that does not; a topic's compression.type stores batches in its
// codec instead.
func TestCompressedProduce(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	p := int32(0)
	for _, c := range compression.Codecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			topic := "z-" + c.String()
			b.createTopic(topic, 1, nil)
			batch := compress(t, c, stamped("a", "b", "c"))
			acks := mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: topic, Partition: &p, CompressedRecords: batch}))
			if acks[0].BaseOffset != 0 || acks[0].RecordCount != 3 {
				t.Fatalf("acks %v", acks)
			}
			mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: topic, Partition: &p, Records: records("plain")}))

			if got, want := plainValues(t, b.subscribeBatches(topic)), []string{"0:a", "1:b", "2:c", "3:plain"}; !slices.Equal(got, want) {
				t.Fatalf("a subscriber that accepts nothing read %q, want %q", got, want)
			}
			as := b.subscribeBatches(topic, runnelv1.Compression(c))
			if len(as) != 2 || as[0].Compressed == nil || !bytes.Equal(as[0].Compressed.Data, batch.Data) ||
				as[0].Compressed.RecordCount != 3 || as[0].Compressed.BaseOffset != 0 || as[0].HighWatermark != 4 {
				t.Fatalf("a subscriber that accepts %v got %v, want the batch as sent, then the plain record", c, as)
			}
			if got := plainValues(t, as[1:]); !slices.Equal(got, []string{"3:plain"}) {
				t.Fatalf("then %q", got)
			}
		})
	}

	// compression.type stores every batch in its codec: plain ones
	// compressed, others recompressed, and "uncompressed" plain.
	for _, c := range []struct {
		typ   string
		codec runnelv1.Compression
	}{{"lz4", runnelv1.Compression_COMPRESSION_LZ4}, {"uncompressed", runnelv1.Compression_COMPRESSION_UNSPECIFIED}} {
		topic := "typed-" + c.typ
		b.createTopic(topic, 1, map[string]string{"compression.type": c.typ})
		mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: topic, Partition: &p, Records: records("plain")}))
		mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: topic, Partition: &p, CompressedRecords: compress(t, compression.Zstd, stamped("x", "y"))}))
		all := []runnelv1.Compression{runnelv1.Compression_COMPRESSION_GZIP, runnelv1.Compression_COMPRESSION_SNAPPY,
			runnelv1.Compression_COMPRESSION_LZ4, runnelv1.Compression_COMPRESSION_ZSTD}
		got := b.subscribeBatches(topic, all...)
		var codecs []runnelv1.Compression
		for _, batch := range got {
			codecs = append(codecs, batch.GetCompressed().GetCompression())
		}
		want := []runnelv1.Compression{c.codec, c.codec} // each batch alone
		if c.codec == runnelv1.Compression_COMPRESSION_UNSPECIFIED {
			want = want[:1] // plain: both in one response
		}
		if !slices.Equal(codecs, want) {
			t.Fatalf("compression.type=%s: responses of batches stored as %v, want %v", c.typ, codecs, want)
		}
		if got, want := plainValues(t, b.subscribeBatches(topic)), []string{"0:plain", "1:x", "2:y"}; !slices.Equal(got, want) {
			t.Fatalf("compression.type=%s: read %q, want %q", c.typ, got, want)
		}
	}

	// A record without a timestamp takes the broker's: the batch is
	// recompressed with it.
	b.createTopic("untimed", 1, nil)
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "untimed", Partition: &p, CompressedRecords: compress(t, compression.Gzip, records("no time"))}))
	got := b.subscribeBatches("untimed")
	if r := got[0].Records[0]; r.Timestamp == nil || time.Since(r.Timestamp.AsTime()) > time.Minute {
		t.Fatalf("a compressed record without a timestamp reads back with %v", r.Timestamp)
	}
	if z := b.subscribeBatches("untimed", runnelv1.Compression_COMPRESSION_GZIP); z[0].Compressed == nil {
		t.Fatal("recompressed, the batch is still gzip")
	}

	// Idempotence counts the records of a compressed batch.
	r, err := b.client.Produce.InitProducer(ctx, &runnelv1.InitProducerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b.createTopic("idem-z", 1, nil)
	batch := compress(t, compression.Snappy, stamped("1", "2"))
	for range 2 {
		acks := mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "idem-z", Partition: &p, CompressedRecords: batch, ProducerId: r.ProducerId}))
		if acks[0].BaseOffset != 0 {
			t.Fatalf("a retry of a compressed batch: %v", acks)
		}
	}
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "idem-z", Partition: &p, CompressedRecords: compress(t, compression.Snappy, stamped("3")),
		ProducerId: r.ProducerId, BaseSequence: 2}))
	if got, want := plainValues(t, b.subscribeBatches("idem-z")), []string{"0:1", "1:2", "2:3"}; !slices.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// TestCompressedProduceRefused: a forged or wrong compressed batch is
// refused whole, INVALID_ARGUMENT, saying what is wrong; nothing of it is
// stored and the broker serves on.
func TestCompressedProduceRefused(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("z", 1, map[string]string{"max.message.bytes": "1000"})
	p := int32(0)
	good := compress(t, compression.Zstd, stamped("a", "b"))
	bomb := func() *runnelv1.CompressedRecords {
		// 64 MiB of one record's worth of zeros: over what a batch may hold.
		plain := protowire.AppendBytes(nil, make([]byte, 64<<20))
		z, err := compression.Compress(nil, plain, compression.Zstd)
		if err != nil {
			t.Fatal(err)
		}
		return &runnelv1.CompressedRecords{Compression: runnelv1.Compression_COMPRESSION_ZSTD, Data: z, RecordCount: 1}
	}()
	for _, c := range []struct {
		name string
		req  *runnelv1.ProduceRequest
		msg  string
	}{
		{"garbage", &runnelv1.ProduceRequest{Topic: "z", Partition: &p, CompressedRecords: &runnelv1.CompressedRecords{
			Compression: runnelv1.Compression_COMPRESSION_ZSTD, Data: []byte("not zstd at all"), RecordCount: 1}}, "corrupt"},
		{"a wrong count", &runnelv1.ProduceRequest{Topic: "z", Partition: &p, CompressedRecords: &runnelv1.CompressedRecords{
			Compression: good.Compression, Data: good.Data, RecordCount: 3}}, "header says 3"},
		{"no count", &runnelv1.ProduceRequest{Topic: "z", Partition: &p, CompressedRecords: &runnelv1.CompressedRecords{
			Compression: good.Compression, Data: good.Data}}, "record_count 0"},
		{"a record over max.message.bytes", &runnelv1.ProduceRequest{Topic: "z", Partition: &p,
			CompressedRecords: compress(t, compression.Gzip, stamped("small", strings.Repeat("x", 2000)))}, "record 1 is"},
		{"a bomb", &runnelv1.ProduceRequest{Topic: "z", Partition: &p, CompressedRecords: bomb}, "over the limit"},
		{"no partition", &runnelv1.ProduceRequest{Topic: "z", CompressedRecords: good}, "set partition"},
		{"records too", &runnelv1.ProduceRequest{Topic: "z", Partition: &p, CompressedRecords: good, Records: records("x")}, "one or the other"},
		{"an unknown codec", &runnelv1.ProduceRequest{Topic: "z", Partition: &p, CompressedRecords: &runnelv1.CompressedRecords{
			Compression: 9, Data: good.Data, RecordCount: 2}}, "not a codec"},
	} {
		resp := b.produce(c.req)
		if resp.Error == nil {
			t.Fatalf("%s: acked %v", c.name, resp.Acks)
		}
		if st := status.FromProto(resp.Error); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.msg) {
			t.Fatalf("%s: %v, want INVALID_ARGUMENT saying %q", c.name, st, c.msg)
		}
	}
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "z", Partition: &p, CompressedRecords: good}))
	if got := plainValues(t, b.subscribeBatches("z")); !slices.Equal(got, []string{"0:a", "1:b"}) {
		t.Fatalf("the log holds %q: only the good batch", got)
	}
	stream, err := b.client.Subscribe.Subscribe(context.Background(), &runnelv1.SubscribeRequest{Topic: "z", AcceptCompression: []runnelv1.Compression{7}})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("accept_compression of no codec: %v, want INVALID_ARGUMENT", err)
	}
}
