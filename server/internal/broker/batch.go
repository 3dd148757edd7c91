package broker

import (
	"context"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/records"
)

// submit encodes recs as one batch and hands it to the partition's raft
// group. Every record must have its timestamp set.
func submit(ctx context.Context, part *raftstore.Partition, recs []*runnelv1.Record) (*raftstore.Proposal, error) {
	payload, err := records.Encode(nil, recs)
	if err != nil {
		return nil, err
	}
	h := raftstore.BatchHeader{RecordCount: uint32(len(recs))}
	for i, r := range recs {
		ts := r.Timestamp.AsTime().UnixMilli()
		if i == 0 {
			h.FirstTimestamp, h.MaxTimestamp = ts, ts
		}
		h.MaxTimestamp = max(h.MaxTimestamp, ts)
	}
	return part.Submit(ctx, h, payload)
}

// decode returns the records of a stored batch at or after offset from.
func decode(b raftstore.Batch, from int64) ([]*runnelv1.Record, error) {
	return records.Decode(b.Payload, b.BaseOffset, int(b.Header.RecordCount), from)
}
