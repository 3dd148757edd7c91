package recordbatch

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// MaxDecompressedBytes bounds what one compressed batch may decompress
// to: the largest batch a broker stores (raftstore's MaxEntryBytes).
const MaxDecompressedBytes = 32<<20 + 64<<10

// Compress encodes recs as one batch compressed with c. The records keep
// what they carry: a broker stores the batch as sent, so records without
// a timestamp should get one first.
func Compress(recs []*runnelv1.Record, c compression.Codec) (*runnelv1.CompressedRecords, error) {
	var plain []byte
	for _, r := range recs {
		b, err := proto.Marshal(r)
		if err != nil {
			return nil, err
		}
		plain = protowire.AppendBytes(plain, b)
	}
	data, err := compression.Compress(nil, plain, c)
	if err != nil {
		return nil, fmt.Errorf("compress the batch with %v: %w", c, err)
	}
	return &runnelv1.CompressedRecords{Compression: runnelv1.Compression(c), Data: data, RecordCount: int32(len(recs))}, nil
}

// Each decompresses z and calls fn with each record's encoding, in
// order, the first at index 0. It fails on an unknown codec, data that
// does not decompress or is not record_count records, and on fn's error.
func Each(z *runnelv1.CompressedRecords, fn func(i int, rec []byte) error) error {
	codec := compression.Codec(z.Compression)
	if z.Compression == runnelv1.Compression_COMPRESSION_UNSPECIFIED || !codec.Valid() {
		return fmt.Errorf("compression %v is not one of gzip, snappy, lz4, zstd", z.Compression)
	}
	if z.RecordCount <= 0 {
		return errors.New("record_count must be positive")
	}
	plain, err := compression.Decompress(nil, z.Data, codec, MaxDecompressedBytes)
	if err != nil {
		return err
	}
	i := 0
	for ; len(plain) > 0; i++ {
		rec, n := protowire.ConsumeBytes(plain)
		if n < 0 || i >= int(z.RecordCount) {
			return fmt.Errorf("malformed after %d of its %d records", i, z.RecordCount)
		}
		plain = plain[n:]
		if err := fn(i, rec); err != nil {
			return err
		}
	}
	if i != int(z.RecordCount) {
		return fmt.Errorf("record_count is %d, the data holds %d records", z.RecordCount, i)
	}
	return nil
}

// Records returns a batch's records from offset from on: its plain
// records, or a compressed batch's decompressed, each given its offset
// (base_offset + its index).
func Records(b *runnelv1.RecordBatch, from int64) ([]*runnelv1.Record, error) {
	z := b.GetCompressed()
	if z == nil {
		if from <= 0 {
			return b.Records, nil
		}
		for i, r := range b.Records {
			if r.Offset >= from {
				return b.Records[i:], nil
			}
		}
		return nil, nil
	}
	out := make([]*runnelv1.Record, 0, z.RecordCount)
	err := Each(z, func(i int, rec []byte) error {
		offset := z.BaseOffset + int64(i)
		if offset < from {
			return nil
		}
		r := &runnelv1.Record{}
		if err := proto.Unmarshal(rec, r); err != nil {
			return fmt.Errorf("record at offset %d: %w", offset, err)
		}
		r.Offset = offset
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s/%d batch at offset %d: %w", b.Topic, b.Partition, z.BaseOffset, err)
	}
	return out, nil
}

// Next is the offset after a batch's last record (from when it has
// none).
func Next(b *runnelv1.RecordBatch, from int64) int64 {
	if z := b.GetCompressed(); z != nil {
		return z.BaseOffset + int64(z.RecordCount)
	}
	if n := len(b.Records); n > 0 {
		return b.Records[n-1].Offset + 1
	}
	return from
}
