package client

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/recordbatch"
)

// compress replaces req's records with one compressed batch of them.
// Records without a timestamp get now: the broker stores the batch as
// sent, and cannot add its own.
func compress(req *runnelv1.ProduceRequest, c compression.Codec) error {
	now := timestamppb.New(time.Now())
	for _, r := range req.Records {
		if r.Timestamp == nil {
			r.Timestamp = now
		}
	}
	z, err := recordbatch.Compress(req.Records, c)
	if err != nil {
		return err
	}
	req.CompressedRecords, req.Records = z, nil
	return nil
}

// acceptedCodecs are the codecs the SDK's consumers decompress.
var acceptedCodecs = []runnelv1.Compression{runnelv1.Compression_COMPRESSION_GZIP, runnelv1.Compression_COMPRESSION_SNAPPY,
	runnelv1.Compression_COMPRESSION_LZ4, runnelv1.Compression_COMPRESSION_ZSTD}

// batchRecords returns a batch's records from offset from on, decompressing
// a compressed one and giving its records their offsets.
func batchRecords(b *runnelv1.RecordBatch, from int64) ([]*runnelv1.Record, error) {
	recs, err := recordbatch.Records(b, from)
	if err != nil {
		return nil, fmt.Errorf("runnel: %w", err)
	}
	return recs, nil
}
