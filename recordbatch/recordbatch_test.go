package recordbatch_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/recordbatch"
)

func records(n int) []*runnelv1.Record {
	var out []*runnelv1.Record
	for i := range n {
		out = append(out, &runnelv1.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i),
			Headers: []*runnelv1.Header{{Key: "h", Value: []byte("x")}}, Timestamp: timestamppb.Now()})
	}
	return out
}

// TestRecords: what Compress makes, Records reads back, with offsets,
// from any offset in the batch; damage is an error.
func TestRecords(t *testing.T) {
	for _, c := range compression.Codecs[1:] {
		want := records(4)
		z, err := recordbatch.Compress(want, c)
		if err != nil {
			t.Fatal(err)
		}
		if z.RecordCount != 4 || z.Compression != runnelv1.Compression(c) {
			t.Fatalf("%v: %v", c, z)
		}
		z.BaseOffset = 100
		b := &runnelv1.RecordBatch{Compressed: z}
		got, err := recordbatch.Records(b, 102)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Offset != 102 || got[1].Offset != 103 {
			t.Fatalf("%v: read from 102: %v", c, got)
		}
		for i, r := range got {
			w := proto.Clone(want[i+2]).(*runnelv1.Record)
			w.Offset = r.Offset
			if !proto.Equal(r, w) {
				t.Fatalf("%v: record %d = %v, want %v", c, i, r, w)
			}
		}
		if n := recordbatch.Next(b, 0); n != 104 {
			t.Fatalf("%v: Next = %d, want 104", c, n)
		}
		z.RecordCount = 5
		if _, err := recordbatch.Records(b, 0); err == nil || !strings.Contains(err.Error(), "record_count is 5, the data holds 4") {
			t.Fatalf("%v: a batch holding fewer records than it says: %v", c, err)
		}
		z.RecordCount = 3
		if _, err := recordbatch.Records(b, 0); err == nil || !strings.Contains(err.Error(), "malformed after 3 of its 3") {
			t.Fatalf("%v: a batch holding more records than it says: %v", c, err)
		}
		z.RecordCount, z.Data = 4, z.Data[:len(z.Data)/2]
		if _, err := recordbatch.Records(b, 0); err == nil {
			t.Fatalf("%v: a truncated batch read", c)
		}
	}
	plain := &runnelv1.RecordBatch{Records: records(3)}
	for i, r := range plain.Records {
		r.Offset = int64(10 + i)
	}
	if got, err := recordbatch.Records(plain, 0); err != nil || !slices.Equal(got, plain.Records) {
		t.Fatalf("a plain batch: %v, %v", got, err)
	}
	if got, _ := recordbatch.Records(plain, 11); !slices.Equal(got, plain.Records[1:]) {
		t.Fatalf("a plain batch from 11: %v", got)
	}
	if got, _ := recordbatch.Records(plain, 13); len(got) != 0 {
		t.Fatalf("a plain batch from past its end: %v", got)
	}
	if n := recordbatch.Next(plain, 0); n != 13 {
		t.Fatalf("Next of a plain batch = %d, want 13", n)
	}
	if n := recordbatch.Next(&runnelv1.RecordBatch{}, 7); n != 7 {
		t.Fatalf("Next of an empty batch = %d, want 7", n)
	}
}

// TestEachRefusesUnknownCodecs: a batch that names no codec, or an
// unknown one, is refused before anything is decompressed.
func TestEachRefusesUnknownCodecs(t *testing.T) {
	for _, c := range []runnelv1.Compression{runnelv1.Compression_COMPRESSION_UNSPECIFIED, 9} {
		err := recordbatch.Each(&runnelv1.CompressedRecords{Compression: c, RecordCount: 1, Data: []byte{1}}, func(int, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "not one of gzip") {
			t.Fatalf("codec %v: %v", c, err)
		}
	}
}
