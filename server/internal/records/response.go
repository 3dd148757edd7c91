package records

import (
	"errors"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/runnel-broker/runnel/compression"
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
	// Codec is the payload's compression (the batch header's).
	Codec compression.Codec
}

// ResponseBatch describes the records to put in one SubscribeResponse:
// those of Batches with offsets in [From, End), stopping before the record
// that would take the response past MaxBytes (but never before the first).
type ResponseBatch struct {
	Topic         string
	Partition     int32
	HighWatermark int64
	Batches       []Stored
	From, End     int64
	MaxBytes      int // 0: no limit
	// Accept are the codecs the subscriber decompresses: a batch stored
	// with one goes as stored, whole, in a response of its own; the others
	// are decompressed, at most DecompressLimit bytes each.
	Accept          compression.Set
	DecompressLimit int
}

// errFull stops a walk over the records once the response is complete.
var errFull = errors.New("response full")

// AppendSubscribeResponse appends the encoding of a
// runnel.v1.SubscribeResponse holding rb's records to dst, each record's
// stored bytes followed by its offset field. It returns how many records
// it wrote and the offset after the last. A batch larger than MaxBytes is
// split across responses, so no response outgrows what clients accept.
//
// A batch stored compressed with a codec the subscriber accepts goes as
// stored, alone in its response, unless From lies inside it; one
// compressed otherwise, or begun before From, is decompressed here, alone
// in its response too, so that a response decompresses one batch at most.
func AppendSubscribeResponse(dst []byte, rb ResponseBatch) ([]byte, int, int64, error) {
	for i, b := range rb.Batches {
		if b.Codec == compression.None {
			continue
		}
		// NB: only a batch wholly at or after From goes as stored, so that
		// no subscriber gets records before its position (the first batch
		// of a read that starts inside one is decompressed).
		if rb.Accept.Has(b.Codec) && b.BaseOffset >= rb.From {
			if i == 0 {
				next := b.BaseOffset + int64(b.Count)
				return appendCompressedResponse(dst, rb, b), b.Count, next, nil
			}
			// NB: the plain batches before it fill this response.
			rb.Batches = rb.Batches[:i]
			break
		}
		if i > 0 {
			// NB: decompressed in a response of its own: a read of a
			// few stored bytes may cover many batches that decompress to
			// 32 MiB each.
			rb.Batches = rb.Batches[:i]
			break
		}
		plain, err := Decompress(b, rb.DecompressLimit)
		if err != nil {
			return dst, 0, rb.From, err
		}
		rb.Batches = []Stored{plain}
		break
	}
	// First pass: which records fit, and the size of the RecordBatch.
	body := batchFieldsSize(rb)
	end, count, next := rb.End, 0, rb.From
	err := walk(rb.Batches, rb.From, &end, func(offset int64, rec []byte) error {
		size := protowire.SizeTag(batchRecords) + protowire.SizeBytes(len(rec)+offsetFieldSize(offset))
		if count > 0 && rb.MaxBytes > 0 && body+size > rb.MaxBytes {
			end = offset
			return errFull
		}
		body += size
		count++
		next = offset + 1
		return nil
	})
	if err != nil {
		return dst, 0, rb.From, err
	}
	// Second pass: write, into room made once.
	dst = appendBatchFields(dst, rb, body)
	_ = walk(rb.Batches, rb.From, &end, func(offset int64, rec []byte) error {
		dst = protowire.AppendTag(dst, batchRecords, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(len(rec)+offsetFieldSize(offset)))
		dst = append(dst, rec...)
		dst = protowire.AppendTag(dst, recordOffset, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(offset))
		return nil
	})
	return dst, count, next, nil
}

// batchFieldsSize is the size of a RecordBatch's fields but its records.
func batchFieldsSize(rb ResponseBatch) int {
	n := protowire.SizeTag(batchTopic) + protowire.SizeBytes(len(rb.Topic))
	if rb.Partition != 0 {
		n += protowire.SizeTag(batchPartition) + protowire.SizeVarint(uint64(rb.Partition))
	}
	if rb.HighWatermark != 0 {
		n += protowire.SizeTag(batchHighWatermark) + protowire.SizeVarint(uint64(rb.HighWatermark))
	}
	return n
}

// appendBatchFields starts a SubscribeResponse whose RecordBatch is body
// bytes: its tag and length, then the batch's fields but its records,
// which the caller appends. It makes room for the whole response.
func appendBatchFields(dst []byte, rb ResponseBatch, body int) []byte {
	dst = slices.Grow(dst, protowire.SizeTag(responseBatch)+protowire.SizeBytes(body))
	dst = protowire.AppendTag(dst, responseBatch, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(body))
	dst = protowire.AppendTag(dst, batchTopic, protowire.BytesType)
	dst = protowire.AppendString(dst, rb.Topic)
	if rb.Partition != 0 {
		dst = protowire.AppendTag(dst, batchPartition, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(rb.Partition))
	}
	if rb.HighWatermark != 0 {
		dst = protowire.AppendTag(dst, batchHighWatermark, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(rb.HighWatermark))
	}
	return dst
}

// walk calls fn with the records of batches whose offsets are in
// [from, *end), in order, until fn returns errFull.
func walk(batches []Stored, from int64, end *int64, fn func(offset int64, rec []byte) error) error {
	for _, b := range batches {
		err := each(b.Payload, b.Count, func(i int, rec []byte) error {
			offset := b.BaseOffset + int64(i)
			switch {
			case offset < from:
				return nil
			case offset >= *end:
				return errFull
			}
			return fn(offset, rec)
		})
		if errors.Is(err, errFull) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// offsetFieldSize is the size of an explicit offset field. It is written
// even for offset 0: it must override any offset the producer sent.
func offsetFieldSize(offset int64) int {
	return protowire.SizeTag(recordOffset) + protowire.SizeVarint(uint64(offset))
}
