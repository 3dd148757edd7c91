package producers

import (
	"errors"
	"fmt"
	"slices"

	raftstorev1 "github.com/runnel-broker/runnel/gen/runnel/raftstore/v1"
)

// Window is how many of a producer's last batches a table remembers, as
// Kafka's 5: a producer with at most that many requests in flight to a
// partition gets every retry recognized.
const Window = 5

// MaxProducers bounds the producers one table remembers: past it, the
// least recently active is forgotten. It bounds the memory (about 200
// bytes a producer) a client making producers in a loop can take.
const MaxProducers = 10_000

var (
	// ErrFenced is a batch whose epoch is older than the producer's
	// newest at the partition.
	ErrFenced = errors.New("producer fenced")
	// ErrOutOfOrder is a batch whose sequence is not the next one
	// expected, nor a retry of one of the last Window batches.
	ErrOutOfOrder = errors.New("out of order sequence")
)

// Batch is an idempotent producer's batch.
type Batch struct {
	ProducerID    int64
	ProducerEpoch int32
	BaseSequence  int64
	Count         int32
	BaseOffset    int64 // once appended
	AppendTime    int64 // ms since the epoch, the leader's clock
}

func (b Batch) next() int64 { return b.BaseSequence + int64(b.Count) }

func (b Batch) same(o Batch) bool {
	return b.ProducerEpoch == o.ProducerEpoch && b.BaseSequence == o.BaseSequence && b.Count == o.Count
}

type producer struct {
	epoch      int32
	lastAppend int64
	batches    []Batch // oldest first, at most Window
}

// pending is a batch the leader proposed in its term, not applied yet,
// with what waits for it: the retries of it that came meanwhile.
type pending[W any] struct {
	batch   Batch
	waiters []W
}

// Table is a partition's producer state. W is what waits for a pending
// batch (the raft loop's proposals). Not safe for concurrent use.
type Table[W any] struct {
	expiryMS  int64
	producers map[int64]*producer
	pending   map[int64][]*pending[W]
	// nextSweep is the append time from which the next Apply looks for
	// expired producers: part of the state, so that every replica sweeps
	// at the same entry.
	nextSweep int64
	// restored is the raft index of the state Restore took: entries up to
	// it are in the state already, and Apply skips them.
	restored uint64
}

// New returns an empty table whose producers expire after expiryMS of
// idleness (0: never).
func New[W any](expiryMS int64) *Table[W] {
	return &Table[W]{expiryMS: expiryMS, producers: make(map[int64]*producer), pending: make(map[int64][]*pending[W])}
}

// Len is the number of producers remembered.
func (t *Table[W]) Len() int { return len(t.producers) }

// Verdict is what the leader does with a batch.
type Verdict int

const (
	// Append: propose it, then AddPending.
	Append Verdict = iota
	// Appended: a retry of an applied batch; BaseOffset is its offset.
	Appended
	// Pending: a retry of a batch proposed and not applied yet; wait for it
	// with Wait.
	Pending
)

// Decision is Check's answer.
type Decision struct {
	Verdict    Verdict
	BaseOffset int64 // with Appended
}

// Check says what the leader does with b, given the applied batches and
// those pending: an error (ErrFenced, ErrOutOfOrder) refuses it.
func (t *Table[W]) Check(b Batch) (Decision, error) {
	p := t.producers[b.ProducerID]
	pend := t.pending[b.ProducerID]
	if p == nil && len(pend) == 0 {
		if b.BaseSequence != 0 {
			return Decision{}, fmt.Errorf("%w: the partition knows no batch of the producer (it may have forgotten it, idle past the expiry), so its sequence starts at 0, not %d: start a new epoch",
				ErrOutOfOrder, b.BaseSequence)
		}
		return Decision{Verdict: Append}, nil
	}
	// The producer's newest state: its last pending batch, else applied.
	var epoch int32
	var window []Batch
	if p != nil {
		epoch, window = p.epoch, p.batches
	}
	if n := len(pend); n > 0 && pend[n-1].batch.ProducerEpoch >= epoch {
		last := pend[n-1].batch
		if last.ProducerEpoch > epoch {
			epoch, window = last.ProducerEpoch, nil
		}
		for _, q := range pend {
			if q.batch.ProducerEpoch == epoch {
				window = append(slices.Clip(window), q.batch)
			}
		}
	}
	switch {
	case b.ProducerEpoch < epoch:
		return Decision{}, fmt.Errorf("%w: epoch %d is older than the producer's epoch %d at this partition", ErrFenced, b.ProducerEpoch, epoch)
	case b.ProducerEpoch > epoch:
		if b.BaseSequence != 0 {
			return Decision{}, fmt.Errorf("%w: a new epoch (%d, after %d) starts at sequence 0, not %d", ErrOutOfOrder, b.ProducerEpoch, epoch, b.BaseSequence)
		}
		return Decision{Verdict: Append}, nil
	}
	for _, w := range window {
		if w.same(b) {
			if w.BaseOffset < 0 {
				return Decision{Verdict: Pending}, nil
			}
			return Decision{Verdict: Appended, BaseOffset: w.BaseOffset}, nil
		}
	}
	next := int64(0)
	if n := len(window); n > 0 {
		next = window[n-1].next()
	}
	switch {
	case len(window) == 0 || b.BaseSequence == next:
		return Decision{Verdict: Append}, nil
	case b.BaseSequence > next:
		return Decision{}, fmt.Errorf("%w: sequence %d leaves a gap after %d, the next one expected: an earlier batch of the producer was not appended",
			ErrOutOfOrder, b.BaseSequence, next)
	case b.BaseSequence < window[0].BaseSequence:
		return Decision{}, fmt.Errorf("%w: sequence %d is older than the producer's last %d batches here (from sequence %d): it was appended before, and its offsets are no longer known",
			ErrOutOfOrder, b.BaseSequence, len(window), window[0].BaseSequence)
	default:
		return Decision{}, fmt.Errorf("%w: %d records from sequence %d overlap the producer's earlier batches without matching one (the next sequence expected is %d)",
			ErrOutOfOrder, b.Count, b.BaseSequence, next)
	}
}

// AddPending records that the leader proposed b (which Check answered
// Append).
func (t *Table[W]) AddPending(b Batch) {
	b.BaseOffset = -1
	t.pending[b.ProducerID] = append(t.pending[b.ProducerID], &pending[W]{batch: b})
}

// Wait adds w to what waits for the pending batch b (which Check answered
// Pending): Apply or ClearPending hands it back.
func (t *Table[W]) Wait(b Batch, w W) {
	for _, q := range t.pending[b.ProducerID] {
		if q.batch.same(b) {
			q.waiters = append(q.waiters, w)
			return
		}
	}
}

// ClearPending forgets every pending batch, when the leader's term ends,
// and returns what waited for them.
func (t *Table[W]) ClearPending() []W {
	var out []W
	for _, list := range t.pending {
		for _, q := range list {
			out = append(out, q.waiters...)
		}
	}
	clear(t.pending)
	return out
}

// Apply takes a committed batch of an idempotent producer, the entry at
// raft index index, in log order, and returns what waited for it as a
// pending batch. An entry the restored state covers changes nothing.
func (t *Table[W]) Apply(b Batch, index uint64) []W {
	var waiters []W
	if list := t.pending[b.ProducerID]; len(list) > 0 {
		for i, q := range list {
			if q.batch.same(b) {
				waiters = q.waiters
				list = slices.Delete(list, i, i+1)
				break
			}
		}
		if len(list) == 0 {
			delete(t.pending, b.ProducerID)
		} else {
			t.pending[b.ProducerID] = list
		}
	}
	if index <= t.restored {
		return waiters
	}
	t.expire(b.AppendTime)
	p := t.producers[b.ProducerID]
	switch {
	case p == nil:
		t.evict()
		p = &producer{epoch: b.ProducerEpoch}
		t.producers[b.ProducerID] = p
	case b.ProducerEpoch < p.epoch:
		return waiters // older than what the table holds
	case b.ProducerEpoch > p.epoch:
		p.epoch, p.batches = b.ProducerEpoch, p.batches[:0]
	case len(p.batches) > 0 && b.BaseSequence < p.batches[len(p.batches)-1].next():
		return waiters // applied before (a replay over a saved state)
	}
	p.lastAppend = max(p.lastAppend, b.AppendTime)
	if len(p.batches) == Window {
		p.batches = append(p.batches[:0], p.batches[1:]...)
	}
	p.batches = append(p.batches, b)
	return waiters
}

// sweepEvery is how often (in append time) Apply looks for expired
// producers: a sweep visits every producer.
const sweepEvery = 60_000

// expire forgets the producers idle for longer than the expiry at append
// time now.
func (t *Table[W]) expire(now int64) {
	if t.expiryMS <= 0 || now < t.nextSweep {
		return
	}
	t.nextSweep = now + min(sweepEvery, t.expiryMS)
	for id, p := range t.producers {
		if now-p.lastAppend > t.expiryMS {
			delete(t.producers, id)
		}
	}
}

// evict makes room for one more producer, forgetting the least recently
// active ones (a hundredth of the table at once, so that a stream of new
// producers does not sort it each time).
func (t *Table[W]) evict() {
	if len(t.producers) < MaxProducers {
		return
	}
	type idle struct {
		id   int64
		last int64
	}
	all := make([]idle, 0, len(t.producers))
	for id, p := range t.producers {
		all = append(all, idle{id, p.lastAppend})
	}
	slices.SortFunc(all, func(a, b idle) int {
		if a.last != b.last {
			return compare(a.last, b.last)
		}
		return compare(a.id, b.id)
	})
	for _, p := range all[:max(1, MaxProducers/100)] {
		delete(t.producers, p.id)
	}
}

func compare(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Encode returns the applied state (not the pending batches) as of raft
// index index, deterministically: producers by id.
func (t *Table[W]) Encode(index uint64) *raftstorev1.ProducerState {
	st := &raftstorev1.ProducerState{Index: index, NextSweepMs: t.nextSweep}
	ids := make([]int64, 0, len(t.producers))
	for id := range t.producers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := t.producers[id]
		pp := &raftstorev1.Producer{Id: id, Epoch: p.epoch, LastAppendMs: p.lastAppend}
		for _, b := range p.batches {
			pp.Batches = append(pp.Batches, &raftstorev1.ProducerBatch{BaseSequence: b.BaseSequence, RecordCount: b.Count, BaseOffset: b.BaseOffset})
		}
		st.Producers = append(st.Producers, pp)
	}
	return st
}

// Restore replaces the applied state with st (pending batches stay).
func (t *Table[W]) Restore(st *raftstorev1.ProducerState) {
	clear(t.producers)
	t.restored, t.nextSweep = st.GetIndex(), st.GetNextSweepMs()
	for _, pp := range st.GetProducers() {
		p := &producer{epoch: pp.GetEpoch(), lastAppend: pp.GetLastAppendMs()}
		for _, b := range pp.GetBatches() {
			p.batches = append(p.batches, Batch{ProducerID: pp.GetId(), ProducerEpoch: p.epoch, BaseSequence: b.GetBaseSequence(),
				Count: b.GetRecordCount(), BaseOffset: b.GetBaseOffset()})
		}
		if len(p.batches) > Window {
			p.batches = p.batches[len(p.batches)-Window:]
		}
		t.producers[pp.GetId()] = p
	}
}
