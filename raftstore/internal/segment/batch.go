package segment

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
)

// BatchHeaderSize is the size of the header that starts the Data of every
// raft entry carrying records.
const BatchHeaderSize = 29

// batchMagic is the batch format version. A new layout gets a new magic, so
// old logs stay readable.
const batchMagic = 1

// BatchHeader describes a record batch. The payload that follows it is
// opaque to this package: it only needs the count (to stamp offsets) and
// the timestamps (for the time index).
type BatchHeader struct {
	RecordCount    uint32
	FirstTimestamp int64 // ms since the epoch
	MaxTimestamp   int64 // ms since the epoch
	ProposalID     uint64
}

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
}

// DecodeBatchHeader splits entry data into its header and payload. The
// payload aliases data. Short data and an unknown magic are ErrCorrupt.
func DecodeBatchHeader(data []byte) (BatchHeader, []byte, error) {
	if len(data) < BatchHeaderSize {
		return BatchHeader{}, nil, fmt.Errorf("%w: batch of %d bytes is shorter than its %d-byte header",
			ErrCorrupt, len(data), BatchHeaderSize)
	}
	if data[0] != batchMagic {
		return BatchHeader{}, nil, fmt.Errorf("%w: batch magic %d, want %d", ErrCorrupt, data[0], batchMagic)
	}
	h := BatchHeader{
		RecordCount:    binary.BigEndian.Uint32(data[1:5]),
		FirstTimestamp: int64(binary.BigEndian.Uint64(data[5:13])),
		MaxTimestamp:   int64(binary.BigEndian.Uint64(data[13:21])),
		ProposalID:     binary.BigEndian.Uint64(data[21:29]),
	}
	return h, data[BatchHeaderSize:], nil
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
