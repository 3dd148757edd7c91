package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func open(t *testing.T, dir string, maxBytes int64) *Spool {
	t.Helper()
	s, err := Open(dir, Options{MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func batch(i int, payloadBytes int) Batch {
	return Batch{Count: 2, FirstTimestamp: int64(i), MaxTimestamp: int64(i), SpooledAt: int64(1000 + i),
		Payload: bytes.Repeat([]byte{byte(i)}, payloadBytes)}
}

// appendSync appends b and waits for it to be durable.
func appendSync(q *Queue, b Batch) (offset int64, duplicate bool, err error) {
	a, err := q.Append(b)
	if err == nil {
		err = q.Sync(a)
	}
	return a.Offset, a.Duplicate, err
}

func readAll(t *testing.T, q *Queue, from int64) []Batch {
	t.Helper()
	var out []Batch
	for {
		bs, _, err := q.Read(from, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 {
			return out
		}
		out = append(out, bs...)
		from = bs[len(bs)-1].End()
	}
}

// TestQueueKeepsWhatItAckedAcrossRestarts appends from several goroutines
// (one fsync for many), forwards part, reopens, and finds the rest in
// order at the same offsets, the cursor where it was left.
func TestQueueKeepsWhatItAckedAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 64<<20)
	q, err := s.Queue("orders", 3)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	offsets := make([]int64, 40)
	for i := range 40 {
		wg.Go(func() {
			off, dup, err := appendSync(q, batch(i, 100))
			if err != nil || dup {
				t.Errorf("append %d: %v (duplicate %v)", i, err, dup)
			}
			offsets[i] = off
		})
	}
	wg.Wait()
	got := readAll(t, q, 0)
	if len(got) != 40 {
		t.Fatalf("read %d batches, want 40", len(got))
	}
	for i, b := range got {
		if b.Offset != int64(2*i) || b.Count != 2 || len(b.Payload) != 100 {
			t.Fatalf("batch %d: offset %d count %d, %d bytes", i, b.Offset, b.Count, len(b.Payload))
		}
	}
	c := Cursor{Offset: got[10].Offset, Index: got[10].Index}
	if err := q.Advance(c); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, 64<<20)
	defer s.Close()
	qs := s.Queues()
	if len(qs) != 1 || qs[0].Topic != "orders" || qs[0].Partition != 3 {
		t.Fatalf("queues after the restart: %v", qs)
	}
	q = qs[0]
	if q.Cursor() != c {
		t.Fatalf("cursor after the restart %+v, want %+v", q.Cursor(), c)
	}
	again := readAll(t, q, q.Cursor().Offset)
	if len(again) != 30 || !bytes.Equal(again[0].Payload, got[10].Payload) || again[0].Offset != 20 {
		t.Fatalf("after the restart: %d batches from the cursor, the first at %d", len(again), again[0].Offset)
	}
	off, _, err := appendSync(q, batch(99, 10))
	if err != nil || off != 80 {
		t.Fatalf("append after the restart: offset %d, %v; want 80", off, err)
	}
}

// TestSpoolFullRefusesThenFreesWhatWasForwarded fills a small spool: the
// append past the bound fails ErrFull (nothing is dropped), and once the
// cursor passes the batches their segments are deleted and appends go on.
func TestSpoolFullRefusesThenFreesWhatWasForwarded(t *testing.T) {
	s := open(t, t.TempDir(), 4<<20) // 1 MiB segments
	defer s.Close()
	q, err := s.Queue("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		_, _, err := appendSync(q, batch(n, 64<<10))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 100 {
			t.Fatal("a 4 MiB spool took more than 6 MiB")
		}
	}
	if used := s.Used(); used > s.MaxBytes() || used < s.MaxBytes()-(128<<10) {
		t.Fatalf("full at %d bytes of %d", used, s.MaxBytes())
	}
	all := readAll(t, q, 0)
	if len(all) != n {
		t.Fatalf("%d batches spooled, %d acked", len(all), n)
	}
	last := all[len(all)-1]
	if err := q.Advance(Cursor{Offset: last.End(), Index: last.Index + 1}); err != nil {
		t.Fatal(err)
	}
	if used := s.Used(); used > 1<<20 {
		t.Fatalf("everything forwarded, the spool still takes %d bytes", used)
	}
	if _, _, err := appendSync(q, batch(0, 64<<10)); err != nil {
		t.Fatalf("append once freed: %v", err)
	}
}

// TestAppendAllIsAllOrNothingWhenFull: batches for several queues that
// do not all fit are refused together, ErrFull, and none is spooled;
// those that fit are spooled together.
func TestAppendAllIsAllOrNothingWhenFull(t *testing.T) {
	s := open(t, t.TempDir(), 4<<20)
	defer s.Close()
	q0, err := s.Queue("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	q1, err := s.Queue("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	// Fill it to within 1.5 MiB of its bound.
	for i := 0; s.Used() < s.MaxBytes()-(3<<19); i++ {
		if _, _, err := appendSync(q0, batch(i, 256<<10)); err != nil {
			t.Fatal(err)
		}
	}
	used, before0 := s.Used(), len(readAll(t, q0, 0))
	// Each would fit alone: not the two.
	_, err = s.AppendAll([]QueueBatch{{q1, batch(100, 1<<20)}, {q0, batch(101, 1<<20)}})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("two 1 MiB batches into 1.5 MiB of room: %v, want ErrFull", err)
	}
	if got := s.Used(); got != used {
		t.Fatalf("the refused batches left the spool at %d bytes, %d before", got, used)
	}
	if n0, n1 := len(readAll(t, q0, 0)), len(readAll(t, q1, 0)); n0 != before0 || n1 != 0 {
		t.Fatalf("after the refusal: %d and %d batches, want %d and 0", n0, n1, before0)
	}
	as, err := s.AppendAll([]QueueBatch{{q1, batch(102, 512<<10)}, {q0, batch(103, 512<<10)}})
	if err != nil || len(as) != 2 {
		t.Fatalf("two 512 KiB batches: %v, %v", as, err)
	}
	for i, q := range []*Queue{q1, q0} {
		if err := q.Sync(as[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n0, n1 := len(readAll(t, q0, 0)), len(readAll(t, q1, 0)); n0 != before0+1 || n1 != 1 {
		t.Fatalf("after the second: %d and %d batches, want %d and 1", n0, n1, before0+1)
	}
}

// TestApplicationRetriesAreSpooledOnce: a retry of an application
// producer's batch is acknowledged with its first offset, before and
// after a restart; a gap is refused.
func TestApplicationRetriesAreSpooledOnce(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 64<<20)
	id, err := s.NextProducerID()
	if err != nil {
		t.Fatal(err)
	}
	q, _ := s.Queue("t", 0)
	app := func(seq int64) Batch {
		b := batch(int(seq), 10)
		b.ProducerID, b.BaseSequence = id, seq
		return b
	}
	for seq := int64(0); seq < 6; seq += 2 {
		if off, dup, err := appendSync(q, app(seq)); err != nil || dup || off != seq {
			t.Fatalf("seq %d: offset %d dup %v %v", seq, off, dup, err)
		}
	}
	if off, dup, err := appendSync(q, app(2)); err != nil || !dup || off != 2 {
		t.Fatalf("retry of seq 2: offset %d dup %v %v; want 2, a duplicate", off, dup, err)
	}
	if _, _, err := appendSync(q, app(10)); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("a gap: %v, want ErrOutOfOrder", err)
	}
	s.Close()

	s = open(t, dir, 64<<20)
	defer s.Close()
	q, _ = s.Queue("t", 0)
	if off, dup, err := appendSync(q, app(4)); err != nil || !dup || off != 4 {
		t.Fatalf("retry of seq 4 after a restart: offset %d dup %v %v", off, dup, err)
	}
	if off, dup, err := appendSync(q, app(6)); err != nil || dup || off != 6 {
		t.Fatalf("seq 6 after a restart: offset %d dup %v %v", off, dup, err)
	}
	next, err := s.NextProducerID()
	if err != nil || next <= id {
		t.Fatalf("an id after the restart: %d (%v), the first was %d", next, err, id)
	}
}

// TestCursorSurvivesATornSlot: a cursor write cut off in the middle
// spoils only its slot; the previous cursor is read.
func TestCursorSurvivesATornSlot(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 64<<20)
	q, _ := s.Queue("t", 0)
	for i := range 3 {
		appendSync(q, batch(i, 10))
	}
	bs := readAll(t, q, 0)
	c1 := Cursor{Offset: bs[1].Offset, Index: bs[1].Index}
	c2 := Cursor{Offset: bs[2].Offset, Index: bs[2].Index, Epoch: 1, EpochBase: 4}
	if err := q.Advance(c1); err != nil {
		t.Fatal(err)
	}
	if err := q.Advance(c2); err != nil {
		t.Fatal(err)
	}
	seq := q.cur.seq
	s.Close()
	path := filepath.Join(dir, queuesDir, "t-0", cursorFile)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Garble the slot holding c2.
	if _, err := f.WriteAt([]byte("torn"), int64(seq%2)*cursorSlotSize+12); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s = open(t, dir, 64<<20)
	defer s.Close()
	q, _ = s.Queue("t", 0)
	if got := q.Cursor(); got != c1 {
		t.Fatalf("cursor with its newest slot torn: %+v, want the previous %+v", got, c1)
	}
}

func TestQueueDirNames(t *testing.T) {
	for _, tc := range []struct {
		topic string
		p     int32
	}{{"a", 0}, {"my-topic", 12}, {"x-1", 3}} {
		topic, p, ok := parseQueueDir(queueDirName(tc.topic, tc.p))
		if !ok || topic != tc.topic || p != tc.p {
			t.Errorf("%s/%d: parsed %q %d %v", tc.topic, tc.p, topic, p, ok)
		}
	}
	for _, bad := range []string{"nodash", "-1", "t-x", "t-1x"} {
		if _, _, ok := parseQueueDir(bad); ok {
			t.Errorf("%q parsed as a queue", bad)
		}
	}
}

// TestApplicationRetriesAfterTheirSegmentsWereDeleted: the producer
// table is saved before forwarded segments are deleted, so a retry of a
// batch the spool forwarded and deleted is still known after a restart.
func TestApplicationRetriesAfterTheirSegmentsWereDeleted(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 4<<20) // 1 MiB segments
	id, _ := s.NextProducerID()
	q, _ := s.Queue("t", 0)
	var last Batch
	for i := range 40 {
		b := batch(i, 64<<10)
		b.ProducerID, b.BaseSequence = id, int64(2*i)
		if _, _, err := appendSync(q, b); err != nil {
			t.Fatal(err)
		}
		last = b
	}
	bs := readAll(t, q, 0)
	end := bs[len(bs)-1]
	if err := q.Advance(Cursor{Offset: end.End(), Index: end.Index + 1}); err != nil {
		t.Fatal(err)
	}
	if s.Used() > 1<<20 {
		t.Fatalf("forwarded segments not deleted: %d bytes used", s.Used())
	}
	s.Close()

	s = open(t, dir, 4<<20)
	defer s.Close()
	q, _ = s.Queue("t", 0)
	if off, dup, err := appendSync(q, last); err != nil || !dup || off != end.Offset {
		t.Fatalf("retry of the last batch, forwarded and deleted, after a restart: offset %d dup %v %v; want %d, a duplicate", off, dup, err, end.Offset)
	}
	next := batch(40, 10)
	next.ProducerID, next.BaseSequence = id, 80
	if off, dup, err := appendSync(q, next); err != nil || dup || off != end.End() {
		t.Fatalf("the next batch: offset %d dup %v %v; want %d", off, dup, err, end.End())
	}
}
