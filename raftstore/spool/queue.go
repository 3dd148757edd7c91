package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftstorev1 "github.com/runnel-broker/runnel/gen/runnel/raftstore/v1"

	"github.com/runnel-broker/runnel/raftstore/internal/producers"
	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// Window is how many batches past its cursor the forwarder may have on
// the wire: the partition remembers a producer's last Window batches, so a
// crash that loses the acks of at most that many has every one of them
// acknowledged as a duplicate when it is sent again.
const Window = producers.Window

// Batch is one spooled produce request's records for a partition.
type Batch struct {
	// Offset is the batch's first offset in the queue.
	Offset int64
	Count  uint32
	// FirstTimestamp and MaxTimestamp are the records' (ms since the
	// epoch).
	FirstTimestamp, MaxTimestamp int64
	// Codec is the payload's compression (Kafka's numbers: 0 none).
	Codec uint8
	// SpooledAt is when the spool took it (ms since the epoch).
	SpooledAt int64
	// The application's idempotent producer, when it sent one (ID 0:
	// none): the spool keeps no second copy of a batch it retried.
	ProducerID    int64
	ProducerEpoch int32
	BaseSequence  int64
	// Payload is opaque to the spool.
	Payload []byte
	// Index is the batch's entry in the queue's log.
	Index uint64
}

// End is the offset after the batch.
func (b Batch) End() int64 { return b.Offset + int64(b.Count) }

// Queue is one partition's spooled batches. Append is safe for
// concurrent use; the forwarding methods (Cursor, Advance, NewEpoch) are
// for one goroutine, the partition's forwarder.
type Queue struct {
	s         *Spool
	Topic     string
	Partition int32
	dir       string
	log       *segment.Log

	// wmu orders appends: the log's writer, the producer table.
	wmu   sync.Mutex
	table *producers.Table[struct{}]

	// smu serializes syncs (Append's group commit).
	smu sync.Mutex

	mu      sync.Mutex // guards the fields below
	synced  uint64     // the last index known durable
	changed chan struct{}
	cursor  Cursor
	cur     *cursorFileHandle
	err     error // set once a write or sync failed: the queue is done
}

func openQueue(s *Spool, topic string, partition int32, dir string) (*Queue, error) {
	log, err := segment.Open(dir, segment.Options{SegmentBytes: s.segmentBytes, Logger: s.opts.Logger, Cache: s.cache})
	if err != nil {
		return nil, err
	}
	cur, c, err := openCursor(dir)
	if err != nil {
		log.Close()
		return nil, err
	}
	q := &Queue{s: s, Topic: topic, Partition: partition, dir: dir, log: log, cur: cur,
		table: producers.New[struct{}](s.opts.ProducerExpiry.Milliseconds()), changed: make(chan struct{}),
		synced: log.LastIndex()}
	if err := q.restoreProducers(); err != nil {
		return nil, errors.Join(err, q.close())
	}
	if err := q.recover(c); err != nil {
		return nil, errors.Join(err, q.close())
	}
	return q, nil
}

// recover rebuilds the producer table from the batches the log holds and
// checks the cursor against the log: a cursor a torn write took back may
// point before the log start (it had been advanced past segments since
// deleted); it then moves to the start.
func (q *Queue) recover(c Cursor) error {
	start, next := q.log.StartOffset(), q.log.NextOffset()
	if p := c.Pending(); len(p) > 0 && (p[0] <= c.Offset || p[len(p)-1] > next) {
		return fmt.Errorf("spool: queue %s: the cursor's pending groups %v do not fall between its offset %d and the log's end %d", q.dir, p, c.Offset, next)
	}
	switch {
	case c.Offset > next:
		return fmt.Errorf("spool: queue %s: the cursor (offset %d) is past the log's end (%d): the log lost synced data", q.dir, c.Offset, next)
	case c.Offset < start:
		q.s.opts.Logger.Warn("spool: cursor behind the log start, moved to it", "queue", q.dir, "cursor", c.Offset, "start", start)
		c.Offset = start
		// NB: its groups ended before the start: the cursor that passed
		// them was written, and lost.
		var keep []int64
		for _, end := range c.Pending() {
			if end > start {
				keep = append(keep, end)
			}
		}
		c = c.WithPending(keep)
		c.EpochBase = max(c.EpochBase, 0)
	}
	c.Index = q.log.LastIndex() + 1
	for off := start; off < next; {
		var last *Batch
		err := q.log.ReadFunc(off, q.log.LastIndex(), 1<<20, func(bs []segment.Batch) error {
			for _, sb := range bs {
				b := fromSegment(sb)
				if b.Offset <= c.Offset && c.Offset < b.End() {
					c.Offset, c.Index = b.Offset, b.Index
				}
				if b.ProducerID != 0 {
					q.table.Apply(appBatch(b), b.Index)
				}
				last = &b
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("spool: replay queue %s: %w", q.dir, err)
		}
		if last == nil {
			break
		}
		off = last.End()
	}
	q.cursor = c
	return nil
}

func fromSegment(sb segment.Batch) Batch {
	h := sb.Header
	return Batch{Offset: sb.BaseOffset, Count: h.RecordCount, FirstTimestamp: h.FirstTimestamp, MaxTimestamp: h.MaxTimestamp,
		Codec: uint8(h.Attributes & segment.AttributeCodecMask), SpooledAt: h.AppendTime,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		Payload: sb.Payload, Index: sb.Index}
}

func appBatch(b Batch) producers.Batch {
	return producers.Batch{ProducerID: b.ProducerID, ProducerEpoch: b.ProducerEpoch, BaseSequence: b.BaseSequence,
		Count: int32(b.Count), BaseOffset: b.Offset, AppendTime: b.SpooledAt}
}

// Appended is where Append put a batch.
type Appended struct {
	Offset int64
	// Duplicate: a retry of a batch the queue holds, at Offset; nothing
	// was spooled.
	Duplicate bool
	index     uint64
}

// Append spools b (its Offset and Index are set here) in the order of the
// calls, and returns where; it is durable once Sync of the answer
// returns. A retry of a batch of the application's idempotent producer
// that the queue holds is answered with the first one's offset,
// Duplicate, and spools nothing. Errors: ErrFull, ErrFenced and
// ErrOutOfOrder (the application's producer), ErrFailed.
func (q *Queue) Append(b Batch) (Appended, error) { return q.append(b, 0) }

// appendSize is the room b takes in the bound.
func appendSize(b Batch) int64 {
	return int64(segment.BatchHeaderSize + len(b.Payload) + frameOverhead)
}

// append is Append of b, with reserved bytes of the bound taken for it
// already (Spool.AppendAll), or none (0): then it takes them itself. A
// reservation not spent on b is given back.
func (q *Queue) append(b Batch, reserved int64) (a Appended, err error) {
	defer func() {
		if reserved > 0 {
			q.s.account(0, reserved)
		}
	}()
	if b.Count == 0 {
		return Appended{}, errors.New("spool: append of an empty batch")
	}
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if err := q.failed(); err != nil {
		return Appended{}, err
	}
	if b.ProducerID != 0 {
		d, err := q.table.Check(appBatch(b))
		if err != nil {
			return Appended{}, err
		}
		if d.Verdict == producers.Appended {
			return Appended{Offset: d.BaseOffset, Duplicate: true, index: q.log.LastIndex()}, nil
		}
	}
	size := appendSize(b)
	if reserved == 0 {
		if err := q.s.reserve(size); err != nil {
			return Appended{}, err
		}
	}
	reserved = 0 // NB: from here, account below replaces it.
	before := q.log.Size()
	b.Offset, b.Index = q.log.NextOffset(), q.log.LastIndex()+1
	data := segment.EncodeBatch(segment.BatchHeader{RecordCount: b.Count, FirstTimestamp: b.FirstTimestamp, MaxTimestamp: b.MaxTimestamp,
		Attributes: uint16(b.Codec), AppendTime: b.SpooledAt, ProducerID: b.ProducerID, ProducerEpoch: b.ProducerEpoch,
		BaseSequence: b.BaseSequence}, b.Payload)
	err = q.log.Append([]raftpb.Entry{{Index: b.Index, Term: 1, Type: raftpb.EntryNormal, Data: data}})
	q.s.account(q.log.Size()-before, size)
	if err != nil {
		return Appended{}, q.fail(err)
	}
	if b.ProducerID != 0 {
		q.table.Apply(appBatch(b), b.Index)
	}
	return Appended{Offset: b.Offset, index: b.Index}, nil
}

// Sync returns once what Append answered a is durable (for a duplicate:
// everything appended before it, the batch it repeats included). One
// caller syncs for all those waiting meanwhile.
func (q *Queue) Sync(a Appended) error { return q.syncTo(a.index) }

// frameOverhead is a segment frame's bytes besides its batch.
const frameOverhead = 33

// syncTo returns once the log is durable up to index: one caller syncs
// for all those waiting meanwhile.
func (q *Queue) syncTo(index uint64) error {
	q.smu.Lock()
	defer q.smu.Unlock()
	q.mu.Lock()
	done, err := q.synced >= index, q.err
	q.mu.Unlock()
	if err != nil || done {
		return err
	}
	last := q.log.LastIndex()
	if err := q.log.Sync(); err != nil {
		return q.fail(err)
	}
	q.mu.Lock()
	q.synced = last
	close(q.changed)
	q.changed = make(chan struct{})
	q.mu.Unlock()
	return nil
}

// fail marks the queue failed: after a failed write or fsync nothing
// unsynced can be trusted (the page cache may have dropped it), so the
// queue takes no more appends, and the sidecar must restart to recover it
// from what is on disk.
func (q *Queue) fail(err error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.err = fmt.Errorf("%w: queue %s/%d: %w", ErrFailed, q.Topic, q.Partition, err)
		q.s.opts.Logger.Error("spool: queue failed", "topic", q.Topic, "partition", q.Partition, "err", err)
	}
	return q.err
}

func (q *Queue) failed() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Read returns the durable batches from offset on, at most maxBytes of
// payload (at least one batch when there is one), and a channel closed
// when more become durable: with no batch, the caller waits on it.
func (q *Queue) Read(offset int64, maxBytes int) ([]Batch, <-chan struct{}, error) {
	q.mu.Lock()
	synced, changed, err := q.synced, q.changed, q.err
	q.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	sbs, err := q.log.Read(offset, synced, maxBytes)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Batch, len(sbs))
	for i, sb := range sbs {
		out[i] = fromSegment(sb)
	}
	return out, changed, nil
}

// Cursor is the queue's forwarding position.
func (q *Queue) Cursor() Cursor {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cursor
}

// Stats is what a queue holds.
type Stats struct {
	// Next is the offset the next batch gets; Next less Cursor.Offset
	// records wait to be forwarded.
	Next   int64
	Cursor Cursor
	// Bytes is the queue's segments' size on disk.
	Bytes int64
}

// Stats returns the queue's position and size.
func (q *Queue) Stats() Stats {
	q.wmu.Lock()
	next, size := q.log.NextOffset(), q.log.Size()
	q.wmu.Unlock()
	return Stats{Next: next, Cursor: q.Cursor(), Bytes: size}
}

// Advance records, durably, that the cluster acknowledged the queue's
// batches before c (c.Offset and c.Index name the first one not
// acknowledged), and frees the segments wholly before it. When the queue
// is drained and its active segment has grown past a quarter of the
// segment size, it rolls the segment so that its bytes can be freed too.
func (q *Queue) Advance(c Cursor) error {
	if err := q.cur.write(c); err != nil {
		return q.fail(err)
	}
	q.mu.Lock()
	q.cursor = c
	q.mu.Unlock()

	q.wmu.Lock()
	defer q.wmu.Unlock()
	before := q.log.Size()
	var err error
	if c.Index > q.log.LastIndex() && before >= q.s.segmentBytes/4 {
		err = q.log.Roll()
	}
	if segs := q.log.Segments(); err == nil && len(segs) > 1 && segs[0].LastIndex < c.Index {
		// NB: the batches about to be deleted are the producer table's
		// memory after a restart: it is saved first. The table holds the
		// batches appended and not yet synced too, and the file says it
		// covers the log up to its last index: the log is synced that far
		// first, or a power cut that lost those batches would restore a
		// table that answers their retries as duplicates of batches the
		// spool does not hold.
		if err = q.syncTo(q.log.LastIndex()); err == nil {
			err = q.saveProducers()
		}
	}
	if err == nil {
		_, _, err = q.log.DeleteBefore(c.Index)
	}
	q.s.account(q.log.Size()-before, 0)
	if err != nil {
		return q.fail(err)
	}
	return nil
}

// NewEpoch starts the queue's next upstream producer epoch at the batch
// the cursor is at, and forgets the pending groups: the partition refused
// the batch at the cursor (it forgot the producer, idle past the cluster's
// expiry), so nothing from it on was appended, and its sequence for this
// partition starts at 0 again.
func (q *Queue) NewEpoch() (Cursor, error) {
	c := q.Cursor().WithPending(nil)
	c.Epoch++
	c.EpochBase = c.Offset
	if err := q.cur.write(c); err != nil {
		return Cursor{}, q.fail(err)
	}
	q.mu.Lock()
	q.cursor = c
	q.mu.Unlock()
	return c, nil
}

// Sequence is a batch's upstream sequence number in the cursor's epoch.
func (c Cursor) Sequence(b Batch) int64 { return b.Offset - c.EpochBase }

// producersFile holds a queue's producer table as of a raft index of its
// log: a CRC32C, then a runnel.raftstore.v1.ProducerState.
const producersFile = "producers"

// saveProducers writes the producer table (q.wmu held: it matches the
// log up to its last index).
func (q *Queue) saveProducers() error {
	b, err := proto.Marshal(q.table.Encode(q.log.LastIndex()))
	if err != nil {
		return err
	}
	data := binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, castagnoli))
	return writeFile(q.dir, producersFile, append(data, b...))
}

// restoreProducers loads the saved producer table, if any: recover then
// replays the batches after it.
func (q *Queue) restoreProducers() error {
	b, err := os.ReadFile(filepath.Join(q.dir, producersFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	st := &raftstorev1.ProducerState{}
	if len(b) < 4 || binary.BigEndian.Uint32(b) != crc32.Checksum(b[4:], castagnoli) || proto.Unmarshal(b[4:], st) != nil {
		// NB: written through a rename, so only damage spoils it; the
		// table then knows the batches still spooled, and a retry of an
		// older one starts a new epoch of its producer.
		q.s.opts.Logger.Warn("spool: the saved producer table is damaged, ignored", "queue", q.dir)
		return nil
	}
	q.table.Restore(st)
	return nil
}

func (q *Queue) close() error {
	return errors.Join(q.log.Close(), q.cur.close())
}
