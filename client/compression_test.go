package client

import (
	"testing"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestCompress: compress replaces a request's records with one batch,
// stamping those without a timestamp, and batchRecords reads it back.
func TestCompress(t *testing.T) {
	req := &runnelv1.ProduceRequest{Records: []*runnelv1.Record{{Value: []byte("a")}, {Value: []byte("b")}}}
	if err := compress(req, compression.Zstd); err != nil {
		t.Fatal(err)
	}
	z := req.CompressedRecords
	if req.Records != nil || z.RecordCount != 2 || z.Compression != runnelv1.Compression_COMPRESSION_ZSTD {
		t.Fatalf("compressed: %v", req)
	}
	got, err := batchRecords(&runnelv1.RecordBatch{Compressed: z}, 0)
	if err != nil || len(got) != 2 || string(got[1].Value) != "b" || got[0].Timestamp == nil {
		t.Fatalf("read back: %v, %v", got, err)
	}
	if len(acceptedCodecs) != len(compression.Codecs)-1 {
		t.Fatalf("the consumer accepts %v", acceptedCodecs)
	}
}
