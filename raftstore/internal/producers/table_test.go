package producers

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

func batch(id int64, epoch int32, seq int64, count int32) Batch {
	return Batch{ProducerID: id, ProducerEpoch: epoch, BaseSequence: seq, Count: count, AppendTime: 1000}
}

// appendAt runs a batch through the leader's path: check, pend, apply at
// offset.
func appendAt(t *testing.T, tb *Table[string], b Batch, offset int64) {
	t.Helper()
	d, err := tb.Check(b)
	if err != nil || d.Verdict != Append {
		t.Fatalf("check %+v: %+v, %v; want Append", b, d, err)
	}
	tb.AddPending(b)
	b.BaseOffset = offset
	tb.Apply(b, 1)
}

func TestCheck(t *testing.T) {
	tb := New[string](0)
	appendAt(t, tb, batch(7, 0, 0, 3), 100)
	appendAt(t, tb, batch(7, 0, 3, 2), 103)

	for _, c := range []struct {
		name   string
		b      Batch
		want   Decision
		errIs  error
		errMsg string
	}{
		{name: "next", b: batch(7, 0, 5, 1), want: Decision{Verdict: Append}},
		{name: "retry of the last", b: batch(7, 0, 3, 2), want: Decision{Verdict: Appended, BaseOffset: 103}},
		{name: "retry of the first", b: batch(7, 0, 0, 3), want: Decision{Verdict: Appended, BaseOffset: 100}},
		{name: "gap", b: batch(7, 0, 6, 1), errIs: ErrOutOfOrder},
		{name: "overlap", b: batch(7, 0, 1, 3), errIs: ErrOutOfOrder},
		{name: "older epoch", b: batch(7, -1, 5, 1), errIs: ErrFenced},
		{name: "new epoch at 0", b: batch(7, 1, 0, 4), want: Decision{Verdict: Append}},
		{name: "new epoch not at 0", b: batch(7, 1, 5, 1), errIs: ErrOutOfOrder},
		{name: "unknown producer at 0", b: batch(8, 3, 0, 1), want: Decision{Verdict: Append}},
		{name: "unknown producer past 0", b: batch(8, 3, 42, 1), errIs: ErrOutOfOrder},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := tb.Check(c.b)
			if c.errIs != nil {
				if !errors.Is(err, c.errIs) {
					t.Fatalf("got %+v, %v; want %v", d, err, c.errIs)
				}
				return
			}
			if err != nil || d != c.want {
				t.Fatalf("got %+v, %v; want %+v", d, err, c.want)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	tb := New[string](0)
	for i := range int64(Window + 2) {
		appendAt(t, tb, batch(1, 0, i, 1), 10+i)
	}
	// The oldest two fell out of the window: known to be old, offsets lost.
	if _, err := tb.Check(batch(1, 0, 1, 1)); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("a batch older than the window: %v", err)
	}
	if d, err := tb.Check(batch(1, 0, 2, 1)); err != nil || d.BaseOffset != 12 {
		t.Fatalf("the oldest batch of the window: %+v, %v", d, err)
	}
}

func TestPending(t *testing.T) {
	tb := New[string](0)
	b := batch(1, 0, 0, 2)
	tb.AddPending(b)
	next := batch(1, 0, 2, 1)
	if d, err := tb.Check(next); err != nil || d.Verdict != Append {
		t.Fatalf("the batch after a pending one: %+v, %v", d, err)
	}
	if d, err := tb.Check(b); err != nil || d.Verdict != Pending {
		t.Fatalf("a retry of a pending batch: %+v, %v", d, err)
	}
	tb.Wait(b, "retry")
	applied := b
	applied.BaseOffset = 50
	if w := tb.Apply(applied, 1); len(w) != 1 || w[0] != "retry" {
		t.Fatalf("Apply handed back %v, want the retry", w)
	}
	if d, err := tb.Check(b); err != nil || d != (Decision{Verdict: Appended, BaseOffset: 50}) {
		t.Fatalf("after apply: %+v, %v", d, err)
	}

	// A leader's term ends: its pending batches are forgotten, and what
	// waited for them is handed back to fail.
	c := batch(1, 0, 2, 1)
	tb.AddPending(c)
	tb.Wait(c, "second")
	if w := tb.ClearPending(); len(w) != 1 || w[0] != "second" {
		t.Fatalf("ClearPending handed back %v", w)
	}
	if d, err := tb.Check(c); err != nil || d.Verdict != Append {
		t.Fatalf("after ClearPending: %+v, %v", d, err)
	}
}

// TestApplyIsMonotonic: a saved state with entries before it applied
// again is the state the log builds, whether Apply skips them by index
// (the state's own) or by the producers' sequences (an older point).
func TestApplyIsMonotonic(t *testing.T) {
	log := []Batch{batch(1, 0, 0, 2), batch(2, 0, 0, 1), batch(1, 0, 2, 2), batch(1, 1, 0, 1), batch(2, 0, 1, 1)}
	for i := range log {
		log[i].BaseOffset = int64(i * 10)
	}
	whole := New[string](0)
	for i, b := range log {
		whole.Apply(b, uint64(i+1))
	}
	for at := range log {
		saved := New[string](0)
		for i, b := range log[:at+1] {
			saved.Apply(b, uint64(i+1))
		}
		for _, index := range []uint64{uint64(at + 1), 0} {
			st := saved.Encode(uint64(at + 1))
			st.Index = index
			restored := New[string](0)
			restored.Restore(st)
			for i, b := range log { // from the start: everything up to at again
				restored.Apply(b, uint64(i+1))
			}
			if !proto.Equal(restored.Encode(0), whole.Encode(0)) {
				t.Fatalf("saved after %d (index %d), replayed whole: %v, want %v", at, index, restored.Encode(0), whole.Encode(0))
			}
		}
	}
}

// TestExpiryIsDeterministic: a replica that restored a state, and one
// that applied the log, forget the same producers at the same entry.
func TestExpiryIsDeterministic(t *testing.T) {
	const minute = 60_000
	log := []Batch{batch(1, 0, 0, 1), batch(2, 0, 0, 1), batch(3, 0, 0, 1), batch(2, 0, 1, 1)}
	for i, at := range []int64{0, 30 * minute, 50 * minute, 61 * minute} {
		log[i].AppendTime = at
	}
	whole := New[string](60 * minute)
	for i, b := range log {
		whole.Apply(b, uint64(i+1))
	}
	for at := range log {
		saved := New[string](60 * minute)
		for i, b := range log[:at+1] {
			saved.Apply(b, uint64(i+1))
		}
		restored := New[string](60 * minute)
		restored.Restore(saved.Encode(uint64(at + 1)))
		for i, b := range log {
			restored.Apply(b, uint64(i+1))
		}
		if !proto.Equal(restored.Encode(0), whole.Encode(0)) {
			t.Fatalf("restored after entry %d: %v, want %v", at+1, restored.Encode(0), whole.Encode(0))
		}
	}
	if whole.Len() != 2 {
		t.Fatalf("%d producers; want producer 1 forgotten, idle 61 minutes", whole.Len())
	}
}

func TestExpiry(t *testing.T) {
	tb := New[string](10 * 60_000)
	b := batch(1, 0, 0, 1)
	b.AppendTime = 0
	tb.Apply(b, 1)
	other := batch(2, 0, 0, 1)
	other.AppendTime = 10*60_000 + 1
	tb.Apply(other, 2)
	if tb.Len() != 1 {
		t.Fatalf("%d producers, want the idle one expired", tb.Len())
	}
	// Forgotten: it starts again at 0.
	if _, err := tb.Check(batch(1, 0, 1, 1)); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("an expired producer going on: %v", err)
	}
	if d, err := tb.Check(batch(1, 1, 0, 1)); err != nil || d.Verdict != Append {
		t.Fatalf("an expired producer in a new epoch: %+v, %v", d, err)
	}
}

func TestMaxProducers(t *testing.T) {
	tb := New[string](0)
	for id := range int64(MaxProducers + 1) {
		b := batch(id+1, 0, 0, 1)
		b.AppendTime = id
		tb.Apply(b, 1)
	}
	if tb.Len() > MaxProducers {
		t.Fatalf("%d producers, over %d", tb.Len(), MaxProducers)
	}
	if d, _ := tb.Check(batch(1, 0, 0, 1)); d.Verdict != Append {
		t.Fatalf("the least recently active producer is remembered: %+v", d)
	}
	if d, _ := tb.Check(batch(MaxProducers+1, 0, 0, 1)); d.Verdict != Appended {
		t.Fatalf("the newest producer is forgotten: %+v", d)
	}
}
