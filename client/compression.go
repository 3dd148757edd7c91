package client

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// Compressed batches (runnel.v1.CompressedRecords): each record as its
// length (a varint) and its runnel.v1.Record encoding, the whole
// compressed with one codec of the compression package.

// compress replaces req's records with one compressed batch of them.
// Records without a timestamp get now: the broker stores the batch as
// sent, and cannot add its own.
func compress(req *runnelv1.ProduceRequest, c compression.Codec) error {
	now := timestamppb.New(time.Now())
	var plain []byte
	for _, r := range req.Records {
		if r.Timestamp == nil {
			r.Timestamp = now
		}
		b, err := proto.Marshal(r)
		if err != nil {
			return err
		}
		plain = protowire.AppendBytes(plain, b)
	}
	data, err := compression.Compress(nil, plain, c)
	if err != nil {
		return fmt.Errorf("compress the batch with %v: %w", c, err)
	}
	req.CompressedRecords = &runnelv1.CompressedRecords{Compression: runnelv1.Compression(c), Data: data, RecordCount: int32(len(req.Records))}
	req.Records = nil
	return nil
}

// maxDecompressedBytes bounds what one compressed batch from a broker
// may decompress to: the largest batch a broker stores (raftstore's
// MaxEntryBytes).
const maxDecompressedBytes = 32<<20 + 64<<10

// acceptedCodecs are the codecs the SDK's consumers decompress.
var acceptedCodecs = []runnelv1.Compression{runnelv1.Compression_COMPRESSION_GZIP, runnelv1.Compression_COMPRESSION_SNAPPY,
	runnelv1.Compression_COMPRESSION_LZ4, runnelv1.Compression_COMPRESSION_ZSTD}

// batchRecords returns a batch's records from offset from on, decompressing
// a compressed one and giving its records their offsets.
func batchRecords(b *runnelv1.RecordBatch, from int64) ([]*runnelv1.Record, error) {
	z := b.GetCompressed()
	if z == nil {
		return b.Records, nil
	}
	plain, err := compression.Decompress(nil, z.Data, compression.Codec(z.Compression), maxDecompressedBytes)
	if err != nil {
		return nil, fmt.Errorf("runnel: %s/%d batch at offset %d: %w", b.Topic, b.Partition, z.BaseOffset, err)
	}
	out := make([]*runnelv1.Record, 0, z.RecordCount)
	for i := int64(0); len(plain) > 0; i++ {
		rec, n := protowire.ConsumeBytes(plain)
		if n < 0 || i >= int64(z.RecordCount) {
			return nil, fmt.Errorf("runnel: %s/%d batch at offset %d: malformed after %d of its %d records", b.Topic, b.Partition, z.BaseOffset, i, z.RecordCount)
		}
		plain = plain[n:]
		if z.BaseOffset+i < from {
			continue
		}
		r := &runnelv1.Record{}
		if err := proto.Unmarshal(rec, r); err != nil {
			return nil, fmt.Errorf("runnel: %s/%d record at offset %d: %w", b.Topic, b.Partition, z.BaseOffset+i, err)
		}
		r.Offset = z.BaseOffset + i
		out = append(out, r)
	}
	return out, nil
}
