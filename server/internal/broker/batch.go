package broker

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/runnel-broker/runnel/compression"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/records"
)

// submit builds one batch of recs, as their producers encoded them, in
// enc, and hands it to the partition's raft group. Records without a
// timestamp get now.
func submit(ctx context.Context, part *raftstore.Partition, recs []records.Record, now records.Timestamp, enc encoding, producer Producer, opts raftstore.SubmitOptions) (*raftstore.Proposal, error) {
	h := raftstore.BatchHeader{RecordCount: uint32(len(recs)), Attributes: uint16(enc.codec),
		ProducerID: producer.ID, ProducerEpoch: producer.Epoch, BaseSequence: producer.Sequence}
	for i, r := range recs {
		ts := now
		if r.HasTimestamp {
			ts = r.Timestamp
		}
		ms := ts.UnixMilli()
		if i == 0 {
			h.FirstTimestamp, h.MaxTimestamp = ms, ms
		}
		h.MaxTimestamp = max(h.MaxTimestamp, ms)
	}
	var batch []byte
	switch {
	case enc.asSent != nil:
		batch = append(raftstore.NewBatch(len(enc.asSent)), enc.asSent...)
	case enc.codec == compression.None:
		batch = raftstore.NewBatch(batchSize(recs, now) - raftstore.BatchHeaderSize)
		for _, r := range recs {
			batch = records.AppendStored(batch, r, now)
		}
	default:
		plain := make([]byte, 0, batchSize(recs, now)-raftstore.BatchHeaderSize)
		for _, r := range recs {
			plain = records.AppendStored(plain, r, now)
		}
		var err error
		if batch, err = compression.Compress(raftstore.NewBatch(len(plain)/2), plain, enc.codec); err != nil {
			return nil, err
		}
	}
	return part.Submit(ctx, h, batch, opts)
}

// batchSize is the size of the raft entry submit makes of recs: the
// batch header and every record as stored.
func batchSize(recs []records.Record, now records.Timestamp) int {
	size := raftstore.BatchHeaderSize
	for _, r := range recs {
		size += records.StoredSize(r, now)
	}
	return size
}

// proposeInternal appends the broker's own records (internal topics) to
// part, waits for them to apply and returns the offset of the first.
func (b *Broker) proposeInternal(ctx context.Context, topic string, p int32, recs ...records.Record) (int64, error) {
	part := b.store.Partition(partitionName(topic, p))
	if part == nil {
		return 0, errs.Newf(ErrUnavailable, "partition %s is not open", partitionName(topic, p))
	}
	pr, err := submit(ctx, part, recs, timestampNow(), encoding{}, Producer{}, raftstore.SubmitOptions{})
	var base int64
	if err == nil {
		base, err = pr.Wait(ctx)
	}
	return base, b.storeError(topic, p, err)
}

// decode returns the records of a stored batch at or after offset from,
// decompressed if need be.
func decode(b raftstore.Batch, from int64) ([]records.Decoded, error) {
	s, err := records.Decompress(stored(b), raftstore.MaxEntryBytes)
	if err != nil {
		return nil, err
	}
	return records.Decode(s.Payload, s.BaseOffset, s.Count, from)
}

// stored is a batch as the records package sees it.
func stored(b raftstore.Batch) records.Stored {
	return records.Stored{BaseOffset: b.BaseOffset, Count: int(b.Header.RecordCount), Payload: b.Payload,
		Codec: compression.Codec(b.Header.Attributes & raftstore.AttributeCodecMask)}
}

// decodeValues decodes the value of every record of an internal topic's
// batch into a new M.
func decodeValues[M proto.Message](b raftstore.Batch, newM func() M) ([]M, error) {
	recs, err := decode(b, b.BaseOffset)
	if err != nil {
		return nil, err
	}
	out := make([]M, 0, len(recs))
	for _, r := range recs {
		m := newM()
		if err := proto.Unmarshal(r.Value, m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func timestampNow() records.Timestamp {
	now := time.Now()
	return records.Timestamp{Seconds: now.Unix(), Nanos: int32(now.Nanosecond())}
}
