package records

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func compressed(t *testing.T, c compression.Codec, payload []byte) []byte {
	t.Helper()
	z, err := compression.Compress(nil, payload, c)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestParseCompressed(t *testing.T) {
	recs := sample(5, true)
	payload := payloadOf(t, recs, Timestamp{})
	for _, c := range compression.Codecs[1:] {
		plain, parsed, err := ParseCompressed(c, compressed(t, c, payload), 5, 1<<20)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if string(plain) != string(payload) || len(parsed) != 5 || string(parsed[2].Value) != string(recs[2].Value) {
			t.Fatalf("%v: %d records, plain %d bytes", c, len(parsed), len(plain))
		}
	}
	z := compressed(t, compression.Zstd, payload)
	for name, err := range map[string]error{
		"a wrong count": func() error { _, _, err := ParseCompressed(compression.Zstd, z, 4, 1<<20); return err }(),
		"too large":     func() error { _, _, err := ParseCompressed(compression.Zstd, z, 5, 10); return err }(),
		"garbage":       func() error { _, _, err := ParseCompressed(compression.Zstd, []byte("garbage"), 5, 1<<20); return err }(),
		"not a codec":   func() error { _, _, err := ParseCompressed(9, z, 5, 1<<20); return err }(),
		"bad records": func() error {
			_, _, err := ParseCompressed(compression.Gzip, compressed(t, compression.Gzip, []byte{3, 0xff, 0xff, 0xff}), 1, 1<<20)
			return err
		}(),
	} {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// TestSubscribeResponseCompressed: a batch stored compressed goes as
// stored to a subscriber that accepts its codec, alone and whole, unless
// the read starts inside it; to one that does not, as plain records;
// plain batches before it fill their own response.
func TestSubscribeResponseCompressed(t *testing.T) {
	a, b := sample(2, true), sample(3, true)
	plainA := Stored{BaseOffset: 10, Count: 2, Payload: payloadOf(t, a, Timestamp{})}
	zb := Stored{BaseOffset: 12, Count: 3, Payload: compressed(t, compression.LZ4, payloadOf(t, b, Timestamp{})), Codec: compression.LZ4}

	read := func(rb ResponseBatch) (*runnelv1.RecordBatch, int, int64) {
		t.Helper()
		rb.Topic, rb.Partition, rb.HighWatermark, rb.DecompressLimit = "t", 1, 15, 1<<20
		buf, n, next, err := AppendSubscribeResponse(nil, rb)
		if err != nil {
			t.Fatal(err)
		}
		var resp runnelv1.SubscribeResponse
		if err := proto.Unmarshal(buf, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Batch, n, next
	}
	accept := compression.SetOf(compression.LZ4)

	// Plain before compressed: the response stops before it.
	batch, n, next := read(ResponseBatch{Batches: []Stored{plainA, zb}, From: 10, End: 15, Accept: accept})
	if n != 2 || next != 12 || len(batch.Records) != 2 || batch.Compressed != nil {
		t.Fatalf("plain first: %d records, next %d, %v", n, next, batch)
	}
	// From the compressed batch's start: as stored.
	batch, n, next = read(ResponseBatch{Batches: []Stored{zb}, From: 12, End: 15, Accept: accept})
	c := batch.Compressed
	if n != 3 || next != 15 || len(batch.Records) != 0 || c == nil || c.Compression != runnelv1.Compression_COMPRESSION_LZ4 ||
		c.BaseOffset != 12 || c.RecordCount != 3 || string(c.Data) != string(zb.Payload) || batch.HighWatermark != 15 || batch.Partition != 1 {
		t.Fatalf("compressed: %d records, next %d, %v", n, next, batch)
	}
	// From inside it: decompressed, from From, so that nothing before the
	// subscriber's position reaches it.
	batch, n, next = read(ResponseBatch{Batches: []Stored{zb}, From: 13, End: 15, Accept: accept})
	if n != 2 || next != 15 || batch.Compressed != nil || len(batch.Records) != 2 || batch.Records[0].Offset != 13 {
		t.Fatalf("compressed, read from inside it: %d records, next %d, %v", n, next, batch)
	}
	// Not accepted: the plain batch's records, from From; then the
	// compressed one's, decompressed, in a response of its own.
	batch, n, next = read(ResponseBatch{Batches: []Stored{plainA, zb}, From: 11, End: 15})
	if n != 1 || next != 12 || batch.Compressed != nil || len(batch.Records) != 1 {
		t.Fatalf("plain before a compressed batch not accepted: %d records, next %d, %v", n, next, batch)
	}
	second, n, next := read(ResponseBatch{Batches: []Stored{zb, zb}, From: 12, End: 15})
	if n != 3 || next != 15 || second.Compressed != nil || len(second.Records) != 3 {
		t.Fatalf("decompressed: %d records, next %d, %v", n, next, second)
	}
	for i, r := range append(batch.Records, second.Records...) {
		want := proto.Clone(append([]*runnelv1.Record{a[1]}, b...)[i]).(*runnelv1.Record)
		want.Offset = int64(11 + i)
		if !proto.Equal(r, want) {
			t.Fatalf("record %d = %v, want %v", i, r, want)
		}
	}
	// A stored batch that does not decompress is an error, not a crash.
	bad := zb
	bad.Payload = []byte("not lz4")
	if _, _, _, err := AppendSubscribeResponse(nil, ResponseBatch{Batches: []Stored{bad}, End: 15, DecompressLimit: 1 << 20}); err == nil {
		t.Fatal("a damaged compressed batch decoded")
	}
}
