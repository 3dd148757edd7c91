package client

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestBatchRecords: what compress makes, batchRecords reads back, with
// offsets, from any offset in the batch; damage is an error.
func TestBatchRecords(t *testing.T) {
	for _, c := range compression.Codecs[1:] {
		req := &runnelv1.ProduceRequest{}
		for i := range 4 {
			req.Records = append(req.Records, &runnelv1.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i),
				Headers: []*runnelv1.Header{{Key: "h", Value: []byte("x")}}})
		}
		want := make([]*runnelv1.Record, len(req.Records))
		for i, r := range req.Records {
			want[i] = proto.Clone(r).(*runnelv1.Record)
		}
		if err := compress(req, c); err != nil {
			t.Fatal(err)
		}
		z := req.CompressedRecords
		if req.Records != nil || z.RecordCount != 4 || z.Compression != runnelv1.Compression(c) {
			t.Fatalf("%v: %v", c, req)
		}
		z.BaseOffset = 100
		got, err := batchRecords(&runnelv1.RecordBatch{Compressed: z}, 102)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Offset != 102 || got[1].Offset != 103 || got[0].Timestamp == nil {
			t.Fatalf("%v: read from 102: %v", c, got)
		}
		for i, r := range got {
			w := want[i+2]
			w.Offset, w.Timestamp = r.Offset, r.Timestamp
			if !proto.Equal(r, w) {
				t.Fatalf("%v: record %d = %v, want %v", c, i, r, w)
			}
		}
		z.Data = z.Data[:len(z.Data)/2]
		if _, err := batchRecords(&runnelv1.RecordBatch{Compressed: z}, 0); err == nil {
			t.Fatalf("%v: a truncated batch read", c)
		}
	}
	plain := &runnelv1.RecordBatch{Records: []*runnelv1.Record{{Value: []byte("p")}}}
	if got, err := batchRecords(plain, 0); err != nil || !slices.Equal(got, plain.Records) {
		t.Fatalf("a plain batch: %v, %v", got, err)
	}
	if len(acceptedCodecs) != len(compression.Codecs)-1 {
		t.Fatalf("the consumer accepts %v", acceptedCodecs)
	}
}
