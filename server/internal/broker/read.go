package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runnel-broker/runnel/compression"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/records"
)

// Reader reads one partition for a subscription.
type Reader struct {
	broker    *Broker
	topic     string
	partition int32
	part      *raftstore.Partition
}

// Reader returns a reader of partition p of topic, once the partition is
// ready: just after it opened, its high watermark is the commit index it
// last saved, which may lag what was acknowledged.
func (b *Broker) Reader(ctx context.Context, topic string, p int32) (*Reader, error) {
	part, _, err := b.partition(topic, p)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, part); err != nil {
		return nil, errs.Newf(ErrUnavailable, "%v", err)
	}
	return &Reader{broker: b, topic: topic, partition: p, part: part}, nil
}

// Topic returns the topic read.
func (r *Reader) Topic() string { return r.topic }

// Partition returns the partition number read.
func (r *Reader) Partition() int32 { return r.partition }

// LogStartOffset returns the partition's first offset retention kept.
func (r *Reader) LogStartOffset() int64 { return r.part.LogStartOffset() }

// HighWatermark returns the partition's high watermark.
func (r *Reader) HighWatermark() int64 { return r.part.HighWatermark() }

// Changed returns a channel closed when the high watermark next moves
// (see raftstore.Partition.Changed for how to wait without a lost wake-up).
func (r *Reader) Changed() <-chan struct{} { return r.part.Changed() }

// Read returns committed records from offset from on, about maxBytes of
// them (at least one record if any is there), and the offset to read next.
func (r *Reader) Read(from int64, maxBytes int) ([]records.Decoded, int64, error) {
	batches, err := r.part.Read(from, maxBytes)
	if err != nil {
		return nil, from, r.broker.storeError(r.topic, r.partition, wrapRead(r, from, err))
	}
	var out []records.Decoded
	next := from
	for _, b := range batches {
		recs, err := decode(b, from)
		if err != nil {
			return nil, from, fmt.Errorf("topic %q partition %d batch at offset %d: %w", r.topic, r.partition, b.BaseOffset, err)
		}
		out = append(out, recs...)
		next = b.BaseOffset + int64(b.Header.RecordCount)
	}
	return out, next, nil
}

// AppendResponse reads committed records from offset from on, about
// maxBytes of them (at least one record if any is there), stopping before
// offset end, and appends them to dst as an encoded
// runnel.v1.SubscribeResponse. It returns how many records it appended
// (none: dst is unchanged) and the offset to read next. A batch stored
// compressed with a codec in accept goes as stored, whole; others are
// decompressed.
func (r *Reader) AppendResponse(dst []byte, from, end int64, maxBytes int, accept compression.Set) ([]byte, int, int64, error) {
	var (
		n    int
		next = from
	)
	// NB: the batches alias the segment mappings: encode inside the call.
	err := r.part.ReadFunc(from, maxBytes, func(batches []raftstore.Batch) error {
		if len(batches) == 0 {
			return nil
		}
		rb := records.ResponseBatch{
			Topic:         r.topic,
			Partition:     r.partition,
			HighWatermark: r.part.HighWatermark(),
			From:          from,
			End:           end,
			MaxBytes:      maxBytes,
			Accept:        accept,
			// NB: a batch compressed fits one entry decompressed (produce
			// checks it).
			DecompressLimit: raftstore.MaxEntryBytes,
		}
		for _, b := range batches {
			rb.Batches = append(rb.Batches, stored(b))
		}
		out, count, after, err := records.AppendSubscribeResponse(dst, rb)
		if err == nil && count > 0 {
			dst, n, next = out, count, after
		}
		return err
	})
	if err != nil {
		return dst, 0, from, r.broker.storeError(r.topic, r.partition, wrapRead(r, from, err))
	}
	return dst, n, next, nil
}

func wrapRead(r *Reader, from int64, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrOffsetOutOfRange) {
		// NB: the storage's own words name its package; what the client
		// needs is the range. A read races retention, so both ends are
		// read again here.
		return r.outOfRange(from, r.part.LogStartOffset(), r.part.HighWatermark())
	}
	return fmt.Errorf("topic %q partition %d: %w", r.topic, r.partition, err)
}

// StartPosition is where a subscription starts in a partition
// (runnel.v1.StartPosition).
type StartPosition int

const (
	// StartDefault is StartCommitted with a group, else StartEarliest.
	StartDefault StartPosition = iota
	// StartEarliest is the log start.
	StartEarliest
	// StartLatest is the high watermark: only records produced from now.
	StartLatest
	// StartOffset is an offset the subscriber names.
	StartOffset
	// StartTimestamp is the first record at or after a time.
	StartTimestamp
	// StartCommitted is the group's committed offset, else the log start.
	StartCommitted
)

// outOfRange is ErrOffsetOutOfRange for offset, saying the range readable.
func (r *Reader) outOfRange(offset, start, hw int64) error {
	return errs.Newf(ErrOffsetOutOfRange, "topic %q partition %d: offset %d is outside [%d, %d] (log start, high watermark)",
		r.topic, r.partition, offset, start, hw)
}

// StartOffset resolves where a subscription starts in this partition.
func (r *Reader) StartOffset(ctx context.Context, pos StartPosition, offset int64, at time.Time, group string) (int64, error) {
	if pos == StartDefault {
		pos = StartEarliest
		if group != "" {
			pos = StartCommitted
		}
	}
	start, hw := r.part.LogStartOffset(), r.part.HighWatermark()
	switch pos {
	case StartEarliest:
		return start, nil
	case StartLatest:
		return hw, nil
	case StartOffset:
		if offset < 0 {
			return 0, errs.Newf(ErrInvalid, "start offset %d is negative: offsets start at 0 (use START_POSITION_EARLIEST for the log start)", offset)
		}
		if offset > hw {
			hw = r.catchUp(ctx, offset)
		}
		if offset < start || offset > hw {
			if offset > hw && !r.part.LeadsCurrent() {
				return 0, errs.Newf(ErrUnavailable, "topic %q partition %d: offset %d is past this replica's high watermark %d, which lags the group's: retry, or read through the leader",
					r.topic, r.partition, offset, hw)
			}
			return 0, r.outOfRange(offset, start, hw)
		}
		return offset, nil
	case StartTimestamp:
		return r.offsetForTime(at)
	case StartCommitted:
		return r.GroupStart(ctx, group, StartEarliest)
	default:
		return 0, errs.Newf(ErrInvalid, "unknown start position %v", pos)
	}
}

// GroupStart is where group starts reading this partition: its committed
// offset, or, with none, where reset says (EARLIEST or LATEST: Kafka's
// auto.offset.reset).
func (r *Reader) GroupStart(ctx context.Context, group string, reset StartPosition) (int64, error) {
	if group == "" {
		return 0, errs.Newf(ErrInvalid, "start position COMMITTED needs a group")
	}
	committed, err := r.broker.Committed(group, r.topic)
	if err != nil {
		return 0, err
	}
	start, hw := r.part.LogStartOffset(), r.part.HighWatermark()
	o, ok := committed[r.partition]
	switch {
	case !ok && reset == StartLatest:
		return hw, nil
	case !ok:
		return start, nil
	}
	if o > hw {
		hw = r.catchUp(ctx, o)
	}
	// Retention may have deleted what the group had not read yet.
	return min(max(o, start), hw), nil
}

// catchUpWait bounds how long a subscription waits for a replica that
// lags its leader to reach the offset it starts from.
const catchUpWait = 5 * time.Second

// catchUp waits, on a follower or a leader just elected, until its high
// watermark reaches offset (every offset a client knows of was committed,
// so a replica behind it is catching up), for at most catchUpWait, and
// returns the high watermark. A leader that has committed an entry of its
// term has the group's: it returns at once.
func (r *Reader) catchUp(ctx context.Context, offset int64) int64 {
	if r.part.LeadsCurrent() {
		return r.part.HighWatermark()
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	for {
		// NB: Changed before reading the high watermark: no lost wake-up.
		changed := r.part.Changed()
		hw := r.part.HighWatermark()
		if hw >= offset {
			return hw
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return hw
		}
	}
}

// offsetForTime returns the offset of the first record at or after at:
// the store finds the first batch holding one, and the records before it
// in that batch are skipped here.
func (r *Reader) offsetForTime(at time.Time) (int64, error) {
	o, err := r.part.OffsetForTime(at)
	if err != nil {
		return 0, r.broker.storeError(r.topic, r.partition, err)
	}
	recs, _, err := r.Read(o, 1)
	if err != nil {
		return 0, err
	}
	for _, rec := range recs {
		if !time.Unix(rec.Timestamp.Seconds, int64(rec.Timestamp.Nanos)).Before(at) {
			return rec.Offset, nil
		}
	}
	return o, nil
}
