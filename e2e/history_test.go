package e2e

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// history is what producers and consumers of a fault test saw, and the
// model it is checked against: a partition is an append-only sequence of
// records whose offsets never change.
//
//   - Every acknowledged write is in the final log of its partition, once,
//     at the offset its ack named, however often it was sent: producers
//     are idempotent and send a write again, the same values with the same
//     producer sequence, until it is acknowledged.
//   - A write never acknowledged (still unanswered when the producers
//     stopped) may or may not be there (its outcome is unknown), at most
//     once.
//   - Nothing else is: no record no one wrote.
//   - Writes a producer sends one after another to one partition have
//     increasing offsets if both are acknowledged, however many are in
//     flight at once on its stream (and across its streams: it opens the
//     next only once every write of the last is answered or abandoned).
//   - Every record any consumer read, through any broker, is the record
//     the final log has at that offset; each consumer read each
//     partition's offsets in order without gaps or repeats.
//   - The final log reads the same through every broker.
type history struct {
	mu     sync.Mutex
	acked  map[string]ack // value -> where its ack put it
	unsure int            // writes whose outcome is unknown
	// unsureValues are the values of those writes: the log may hold
	// them, but no value no one wrote.
	unsureValues map[string]bool
	// resent counts the sends of a write after its first.
	resent int
	// acksOf[partition] are the ack times, for failover times.
	acksOf map[int32][]time.Time
	// seen[observer][partition] are the records a consumer read, in order.
	seen map[string]map[int32][]observed
}

type ack struct {
	partition int32
	offset    int64
	producer  int
	seq       int // the producer's write number
}

type observed struct {
	offset int64
	value  string
}

func newHistory() *history {
	return &history{acked: map[string]ack{}, unsureValues: map[string]bool{}, acksOf: map[int32][]time.Time{},
		seen: map[string]map[int32][]observed{}}
}

func (h *history) ack(values []string, a ack) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, v := range values {
		a := a
		a.offset += int64(i)
		h.acked[v] = a
	}
	h.acksOf[a.partition] = append(h.acksOf[a.partition], now)
}

// resend records that a write is sent again.
func (h *history) resend() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resent++
}

// failed records a write of values whose outcome is unknown.
func (h *history) failed(values []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unsure++
	for _, v := range values {
		h.unsureValues[v] = true
	}
}

func (h *history) observe(observer string, partition int32, recs []observed) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[observer] == nil {
		h.seen[observer] = map[int32][]observed{}
	}
	h.seen[observer][partition] = append(h.seen[observer][partition], recs...)
}

// ackGap is the longest time partition went without an ack around at
// (between consecutive acks from just before it to within window after):
// the failover time when at is a leader's death. Acks a moment after the
// death are records it committed, acknowledged by followers as they apply.
func (h *history) ackGap(partition int32, at time.Time, window time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	times := h.acksOf[partition]
	i := sort.Search(len(times), func(i int) bool { return times[i].After(at) })
	if i == 0 || i == len(times) {
		return -1
	}
	var gap time.Duration
	for j := i; j < len(times) && times[j-1].Before(at.Add(window)); j++ {
		gap = max(gap, times[j].Sub(times[j-1]))
	}
	return gap
}

// acksSince is how many writes to partition were acknowledged after at.
func (h *history) acksSince(partition int32, at time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	times := h.acksOf[partition]
	n := 0
	for i := len(times) - 1; i >= 0 && times[i].After(at); i-- {
		n++
	}
	return n
}

// readTo is the offset after the last record observer read of partition
// (0 for none).
func (h *history) readTo(observer string, partition int32) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	recs := h.seen[observer][partition]
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].offset + 1
}

// checkResult counts what check looked at.
type checkResult struct {
	acked, unsureWrites, unsureInLog, records, observed int
	resent                                              int // writes sent again after a failure
}

// check verifies the model against the final logs, one per broker:
// logs[broker][partition][offset] is the value there.
func (h *history) check(logs map[string]map[int32][]string) (checkResult, []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	fail := func(format string, args ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	var first string
	for b := range logs {
		if first == "" || b < first {
			first = b
		}
	}
	final := logs[first]
	res := checkResult{acked: len(h.acked), unsureWrites: h.unsure, resent: h.resent}
	for b, log := range logs {
		for p, recs := range final {
			if len(log[p]) != len(recs) {
				fail("partition %d has %d records through %s, %d through %s", p, len(log[p]), b, len(recs), first)
				continue
			}
			for o := range recs {
				if log[p][o] != recs[o] {
					fail("partition %d offset %d is %q through %s, %q through %s", p, o, log[p][o], b, recs[o], first)
				}
			}
		}
	}
	where := map[string]ack{}
	for p, recs := range final {
		res.records += len(recs)
		for o, v := range recs {
			if prev, dup := where[v]; dup {
				fail("value %q is in the log twice: partition %d offsets %d and %d", v, prev.partition, prev.offset, o)
			}
			if _, acked := h.acked[v]; !acked && !h.unsureValues[v] {
				fail("value %q at partition %d offset %d was never written", v, p, o)
			}
			where[v] = ack{partition: p, offset: int64(o)}
		}
	}
	res.unsureInLog = res.records - len(h.acked)
	type stream struct {
		producer  int
		partition int32
	}
	last := map[stream]ack{}
	var acks []ack
	for v, a := range h.acked {
		got, ok := where[v]
		switch {
		case !ok:
			fail("acknowledged %q (partition %d offset %d) is not in the log", v, a.partition, a.offset)
		case got.partition != a.partition || got.offset != a.offset:
			fail("acknowledged %q at partition %d offset %d is at partition %d offset %d", v, a.partition, a.offset, got.partition, got.offset)
		}
		acks = append(acks, a)
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i].seq < acks[j].seq })
	for _, a := range acks {
		s := stream{a.producer, a.partition}
		if prev, ok := last[s]; ok && prev.seq != a.seq && a.offset <= prev.offset {
			fail("producer %d: write %d acked at offset %d, after write %d at %d in partition %d",
				a.producer, a.seq, a.offset, prev.seq, prev.offset, a.partition)
		}
		last[s] = a
	}
	for observer, parts := range h.seen {
		for p, recs := range parts {
			for i, r := range recs {
				res.observed++
				if i > 0 && r.offset != recs[i-1].offset+1 {
					fail("%s read partition %d offset %d after %d", observer, p, r.offset, recs[i-1].offset)
				}
				if r.offset >= int64(len(final[p])) || final[p][r.offset] != r.value {
					fail("%s read %q at partition %d offset %d; the final log differs", observer, r.value, p, r.offset)
				}
			}
		}
	}
	return res, errs
}
