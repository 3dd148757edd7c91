package segment

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
)

// BatchHeaderSize is the size of the header that starts the Data of every
// raft entry carrying records, as this version writes it.
const BatchHeaderSize = 59

// The batch format versions. A new layout gets a new magic, so old logs
// stay readable: version 1 (29 bytes, up to the proposal id) is read with
// the later fields zero.
const (
	batchMagicV1 = 1
	batchMagic   = 2

	batchHeaderSizeV1 = 29
)

// BatchHeader describes a record batch. The payload that follows it is
// opaque to this package: it only needs the count (to stamp offsets) and
// the timestamps (for the time index).
type BatchHeader struct {
	RecordCount    uint32
	FirstTimestamp int64 // ms since the epoch
	MaxTimestamp   int64 // ms since the epoch
	ProposalID     uint64
	// Attributes say how the payload is encoded: bits 0-2 are its
	// compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd, Kafka's
	// numbers), opaque to this package. A batch with a codec past 4 or
	// any other bit set is refused as corrupt, so that a later flag is
	// never misread by this version.
	Attributes uint16
	// AppendTime is the leader's clock (ms since the epoch) when it took
	// the batch: the time an idempotent producer's idleness counts from.
	AppendTime int64
	// ProducerID, ProducerEpoch and BaseSequence identify an idempotent
	// producer's batch (ProducerID 0: none): the sequence number of its
	// first record in the producer's run of records to the partition.
	ProducerID    int64
	ProducerEpoch int32
	BaseSequence  int64
}

// AttributeCodecMask selects a batch's compression codec in its Attributes.
const AttributeCodecMask = 0x7

// maxCodec is the highest codec number defined (zstd).
const maxCodec = 4

// EncodeBatch returns header and payload in one new slice, ready to be the
// Data of a raft entry.
func EncodeBatch(h BatchHeader, payload []byte) []byte {
	b := make([]byte, BatchHeaderSize+len(payload))
	PutBatchHeader(b, h)
	copy(b[BatchHeaderSize:], payload)
	return b
}

// PutBatchHeader writes h over the first BatchHeaderSize bytes of data, for
// callers that build the payload in place behind a reserved header.
func PutBatchHeader(data []byte, h BatchHeader) {
	data[0] = batchMagic
	binary.BigEndian.PutUint32(data[1:5], h.RecordCount)
	binary.BigEndian.PutUint64(data[5:13], uint64(h.FirstTimestamp))
	binary.BigEndian.PutUint64(data[13:21], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(data[21:29], h.ProposalID)
	binary.BigEndian.PutUint16(data[29:31], h.Attributes)
	binary.BigEndian.PutUint64(data[31:39], uint64(h.AppendTime))
	binary.BigEndian.PutUint64(data[39:47], uint64(h.ProducerID))
	binary.BigEndian.PutUint32(data[47:51], uint32(h.ProducerEpoch))
	binary.BigEndian.PutUint64(data[51:59], uint64(h.BaseSequence))
}

// DecodeBatchHeader splits entry data into its header and payload. The
// payload aliases data. Short data, an unknown magic and unknown
// attributes are ErrCorrupt.
func DecodeBatchHeader(data []byte) (BatchHeader, []byte, error) {
	size := BatchHeaderSize
	if len(data) > 0 && data[0] == batchMagicV1 {
		size = batchHeaderSizeV1
	}
	if len(data) < size {
		return BatchHeader{}, nil, fmt.Errorf("%w: batch of %d bytes is shorter than its %d-byte header",
			ErrCorrupt, len(data), size)
	}
	if data[0] != batchMagic && data[0] != batchMagicV1 {
		return BatchHeader{}, nil, fmt.Errorf("%w: batch magic %d, want %d", ErrCorrupt, data[0], batchMagic)
	}
	h := BatchHeader{
		RecordCount:    binary.BigEndian.Uint32(data[1:5]),
		FirstTimestamp: int64(binary.BigEndian.Uint64(data[5:13])),
		MaxTimestamp:   int64(binary.BigEndian.Uint64(data[13:21])),
		ProposalID:     binary.BigEndian.Uint64(data[21:29]),
	}
	if data[0] == batchMagic {
		h.Attributes = binary.BigEndian.Uint16(data[29:31])
		h.AppendTime = int64(binary.BigEndian.Uint64(data[31:39]))
		h.ProducerID = int64(binary.BigEndian.Uint64(data[39:47]))
		h.ProducerEpoch = int32(binary.BigEndian.Uint32(data[47:51]))
		h.BaseSequence = int64(binary.BigEndian.Uint64(data[51:59]))
	}
	if h.Attributes&^AttributeCodecMask != 0 || h.Attributes&AttributeCodecMask > maxCodec {
		return BatchHeader{}, nil, fmt.Errorf("%w: batch attributes %#x: this version knows only a codec from 0 to %d in bits 0-2",
			ErrCorrupt, h.Attributes, maxCodec)
	}
	return h, data[size:], nil
}

// entryBatch reports the batch an entry carries. Conf changes and empty
// normal entries (the leader's no-op) carry none and take no offsets.
func entryBatch(typ raftpb.EntryType, data []byte) (h BatchHeader, ok bool, err error) {
	if typ != raftpb.EntryNormal || len(data) == 0 {
		return BatchHeader{}, false, nil
	}
	h, _, err = DecodeBatchHeader(data)
	if err != nil {
		return BatchHeader{}, false, err
	}
	return h, true, nil
}
