package records

import (
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of runnel.v1.SubscribeResponse and RecordBatch.
const (
	responseBatch      protowire.Number = 1
	batchTopic         protowire.Number = 1
	batchPartition     protowire.Number = 2
	batchRecords       protowire.Number = 3
	batchHighWatermark protowire.Number = 4
)

// Stored is one stored batch's records: what the segment store returns.
type Stored struct {
	BaseOffset int64
	Count      int
	Payload    []byte
}

// ResponseBatch describes the records to put in one SubscribeResponse:
// those of Batches with offsets in [From, End).
type ResponseBatch struct {
	Topic         string
	Partition     int32
	HighWatermark int64
	Batches       []Stored
	From, End     int64
}

// AppendSubscribeResponse appends the encoding of a
// runnel.v1.SubscribeResponse holding rb's records to dst, each record's
// stored bytes followed by its offset field. It returns how many records
// it wrote and the offset after the last.
func AppendSubscribeResponse(dst []byte, rb ResponseBatch) ([]byte, int, int64, error) {
	// First pass: the size of the RecordBatch, for the length prefixes.
	body := protowire.SizeTag(batchTopic) + protowire.SizeBytes(len(rb.Topic))
	if rb.Partition != 0 {
		body += protowire.SizeTag(batchPartition) + protowire.SizeVarint(uint64(rb.Partition))
	}
	if rb.HighWatermark != 0 {
		body += protowire.SizeTag(batchHighWatermark) + protowire.SizeVarint(uint64(rb.HighWatermark))
	}
	count, next := 0, rb.From
	for _, b := range rb.Batches {
		err := each(b.Payload, b.Count, func(i int, rec []byte) error {
			offset := b.BaseOffset + int64(i)
			if offset < rb.From || offset >= rb.End {
				return nil
			}
			body += protowire.SizeTag(batchRecords) + protowire.SizeBytes(len(rec)+offsetFieldSize(offset))
			count++
			next = offset + 1
			return nil
		})
		if err != nil {
			return dst, 0, rb.From, err
		}
	}
	// Second pass: write, into room made once.
	dst = slices.Grow(dst, protowire.SizeTag(responseBatch)+protowire.SizeBytes(body))
	dst = protowire.AppendTag(dst, responseBatch, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(body))
	dst = protowire.AppendTag(dst, batchTopic, protowire.BytesType)
	dst = protowire.AppendString(dst, rb.Topic)
	if rb.Partition != 0 {
		dst = protowire.AppendTag(dst, batchPartition, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(rb.Partition))
	}
	for _, b := range rb.Batches {
		_ = each(b.Payload, b.Count, func(i int, rec []byte) error {
			offset := b.BaseOffset + int64(i)
			if offset < rb.From || offset >= rb.End {
				return nil
			}
			dst = protowire.AppendTag(dst, batchRecords, protowire.BytesType)
			dst = protowire.AppendVarint(dst, uint64(len(rec)+offsetFieldSize(offset)))
			dst = append(dst, rec...)
			dst = protowire.AppendTag(dst, recordOffset, protowire.VarintType)
			dst = protowire.AppendVarint(dst, uint64(offset))
			return nil
		})
	}
	if rb.HighWatermark != 0 {
		dst = protowire.AppendTag(dst, batchHighWatermark, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(rb.HighWatermark))
	}
	return dst, count, next, nil
}

// offsetFieldSize is the size of an explicit offset field. It is written
// even for offset 0: it must override any offset the producer sent.
func offsetFieldSize(offset int64) int {
	return protowire.SizeTag(recordOffset) + protowire.SizeVarint(uint64(offset))
}
