package broker

import (
	"errors"
	"strings"
	"testing"

	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/records"
)

// TestCheckBatchSizes counts a batch as stored, the broker's timestamp
// included, against the limit: empty records on the wire (2 bytes each in
// a request) are ~15 bytes each as stored, the amplification that once
// made a 10 MiB request a 72 MiB raft entry.
func TestCheckBatchSizes(t *testing.T) {
	now := timestampNow()
	empty, err := records.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = empty
	}
	size := batchSize(recs, now)
	if per := (size - raftstore.BatchHeaderSize) / n; per < 10 || per > 15 {
		t.Fatalf("an empty record takes %d bytes as stored, want 10 to 15", per)
	}
	byPartition := map[int32][]records.Record{0: recs[:1], 3: recs}
	if err := checkBatchSizes(byPartition, now, size); err != nil {
		t.Fatalf("batch at the limit: %v", err)
	}
	err = checkBatchSizes(byPartition, now, size-1)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "partition 3") || !strings.Contains(err.Error(), "send fewer records") {
		t.Fatalf("batch over the limit: %v", err)
	}
}
