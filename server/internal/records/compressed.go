package records

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/runnel-broker/runnel/compression"
)

// Compressed batches.
//
// A compressed stored payload is the plain payload (uvarint length |
// record, for each record) compressed as one block with the codec the
// batch header names. The broker stores a producer's compressed batch as
// sent once it has checked every record in it (ParseCompressed), sends it
// as stored to a subscriber that accepts its codec, and decompresses it
// for one that does not (AppendSubscribeResponse).

// ParseCompressed decompresses a producer's compressed batch, at most
// limit bytes, and parses each of its count records, as Parse does. The
// records alias the plain payload it returns.
func ParseCompressed(c compression.Codec, data []byte, count, limit int) ([]byte, []Record, error) {
	if !c.Valid() || c == compression.None {
		return nil, nil, fmt.Errorf("compression %d is not a codec: want gzip (1), snappy (2), lz4 (3) or zstd (4): %w", c, ErrMalformed)
	}
	plain, err := compression.Decompress(nil, data, c, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("%v batch: %w: %w", c, err, ErrMalformed)
	}
	// NB: not sized from count, which the producer declares.
	var recs []Record
	err = each(plain, count, func(i int, b []byte) error {
		r, err := Parse(b)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%v batch: %w", c, err)
	}
	return plain, recs, nil
}

// Decompress returns s with its payload plain, decompressed into a new
// buffer of at most limit bytes; a plain s is returned as is.
func Decompress(s Stored, limit int) (Stored, error) {
	if s.Codec == compression.None {
		return s, nil
	}
	plain, err := compression.Decompress(nil, s.Payload, s.Codec, limit)
	if err != nil {
		return s, fmt.Errorf("stored %v batch at offset %d: %w", s.Codec, s.BaseOffset, err)
	}
	s.Payload, s.Codec = plain, compression.None
	return s, nil
}

// Field numbers of runnel.v1.CompressedRecords, and RecordBatch's field
// holding one.
const (
	batchCompressed       protowire.Number = 5
	compressedCodec       protowire.Number = 1
	compressedData        protowire.Number = 2
	compressedRecordCount protowire.Number = 3
	compressedBaseOffset  protowire.Number = 4
)

// appendCompressedResponse appends a SubscribeResponse holding the stored
// compressed batch s as it is.
func appendCompressedResponse(dst []byte, rb ResponseBatch, s Stored) []byte {
	inner := protowire.SizeTag(compressedCodec) + protowire.SizeVarint(uint64(s.Codec)) +
		protowire.SizeTag(compressedData) + protowire.SizeBytes(len(s.Payload)) +
		protowire.SizeTag(compressedRecordCount) + protowire.SizeVarint(uint64(s.Count)) +
		protowire.SizeTag(compressedBaseOffset) + protowire.SizeVarint(uint64(s.BaseOffset))
	body := batchFieldsSize(rb) + protowire.SizeTag(batchCompressed) + protowire.SizeBytes(inner)
	dst = appendBatchFields(dst, rb, body)
	dst = protowire.AppendTag(dst, batchCompressed, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(inner))
	dst = protowire.AppendTag(dst, compressedCodec, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(s.Codec))
	dst = protowire.AppendTag(dst, compressedData, protowire.BytesType)
	dst = protowire.AppendBytes(dst, s.Payload)
	dst = protowire.AppendTag(dst, compressedRecordCount, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(s.Count))
	dst = protowire.AppendTag(dst, compressedBaseOffset, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(s.BaseOffset))
	return dst
}
