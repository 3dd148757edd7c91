package segment

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/raftstore/internal/crashfs"
	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// TestPowerLoss runs logs through random appends of varied sizes, syncs,
// rolls, truncations (an append that conflicts), DeleteBefore and clean
// restarts, and cuts the power at random points: between operations and
// inside them, at every sync, creation, removal and rename (see package crashfs).
// Each crash image is recovered in a directory of its own, and must open
// and hold every entry a completed Sync covered and not truncated since,
// followed by a prefix of the entries appended after it: nothing that was
// never appended, no mixture of two versions of the log. Some runs go on
// from a recovered image, so that recovery and the appends after it are
// themselves cut.
//
// RUNNEL_POWERLOSS_SEED replays one seed; RUNNEL_POWERLOSS_RUNS sets how
// many runs (default 20, about 2,700 crash points).
func TestPowerLoss(t *testing.T) {
	if prev := fsops.SetObserver(nil); prev != nil {
		t.Fatal("observer already set")
	}
	seed, runs := crashfs.Runs(t, 20)
	defer fsops.SetObserver(nil)
	points := 0
	for r := range runs {
		pt := &powerTest{t: t, seed: seed + uint64(r), root: crashfs.MemTempDir(t)}
		pt.run()
		points += pt.crashes
	}
	t.Logf("%d runs from seed %d, %d crash points recovered", runs, seed, points)
}

// logState is the log as the test wrote it: every entry from index 1 (those
// before the boundary included), their offsets and the boundary.
type logState struct {
	entries  []raftpb.Entry // entries[i-1] has index i
	offsets  []int64
	boundary Boundary
}

func (s logState) last() uint64 { return uint64(len(s.entries)) }

func (s logState) next() int64 {
	if len(s.entries) == 0 {
		return 0
	}
	n := len(s.entries) - 1
	return s.offsets[n] + int64(records(s.entries[n]))
}

// appended is s after an Append of es.
func (s logState) appended(es []raftpb.Entry) logState {
	keep := es[0].Index - 1
	out := logState{
		entries:  append([]raftpb.Entry(nil), s.entries[:keep]...),
		offsets:  append([]int64(nil), s.offsets[:keep]...),
		boundary: s.boundary,
	}
	for _, e := range es {
		out.offsets = append(out.offsets, out.next())
		out.entries = append(out.entries, e)
	}
	return out
}

// expectation is what a crash image taken now must recover to: a log
// holding entries through mustLast, and a prefix of one of the states.
type expectation struct {
	states   []logState
	mustLast uint64
}

type crashImage struct {
	img  crashfs.Image
	exp  expectation
	what string
}

type powerTest struct {
	t       testing.TB
	seed    uint64
	rng     *rand.Rand
	root    string
	dirs    int
	opts    Options
	fs      *crashfs.FS
	log     *Log
	crashes int

	// states are the states since the last completed Sync, oldest first;
	// the last one is the current state.
	states   []logState
	mustLast uint64 // entries through here were synced and not truncated since
	term     uint64
	// During an operation: the state it leads to and the mustLast it implies.
	pending     *logState
	pendingMust uint64
	queued      []crashImage
}

func (pt *powerTest) fatalf(format string, args ...any) {
	pt.t.Helper()
	pt.t.Fatalf("seed %d (RUNNEL_POWERLOSS_SEED=%d to replay): %s", pt.seed, pt.seed, fmt.Sprintf(format, args...))
}

func (pt *powerTest) newDir() string {
	pt.dirs++
	return filepath.Join(pt.root, strconv.Itoa(pt.dirs))
}

func (pt *powerTest) current() logState { return pt.states[len(pt.states)-1] }

func (pt *powerTest) run() {
	pt.rng = rand.New(rand.NewPCG(pt.seed, pt.seed>>32|1))
	pt.opts = testOptions(int64(512+pt.rng.IntN(4)*1536), 32<<pt.rng.IntN(5))
	pt.states, pt.term = []logState{{}}, 1
	dir := pt.newDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		pt.t.Fatal(err)
	}
	pt.open(dir)
	for op := 0; op < 80; op++ {
		pt.step()
		pt.verifyQueued()
		if pt.rng.IntN(3) == 0 {
			pt.crashNow("between operations", pt.rng.IntN(8) == 0)
		}
	}
	if err := pt.log.Close(); err != nil {
		pt.fatalf("Close: %v", err)
	}
	pt.verifyQueued()
	fsops.SetObserver(nil)
}

// open opens dir as the running log, crash points armed (so that a crash
// during recovery is tested too).
func (pt *powerTest) open(dir string) {
	pt.fs = crashfs.New(pt.t, dir)
	pt.fs.Point = pt.maybeCrash
	fsops.SetObserver(pt.fs)
	l, err := Open(dir, pt.opts)
	if err != nil {
		pt.fatalf("Open %s: %v", dir, err)
	}
	pt.log = l
}

// expect is the expectation for a crash now.
func (pt *powerTest) expect() expectation {
	e := expectation{states: append([]logState(nil), pt.states...), mustLast: pt.mustLast}
	if pt.pending != nil {
		e.states = append(e.states, *pt.pending)
		e.mustLast = min(e.mustLast, pt.pendingMust)
	}
	return e
}

// maybeCrash is the crash model's point: inside an operation, it queues an image
// for checking once the operation returns.
func (pt *powerTest) maybeCrash(what string) {
	if pt.rng.IntN(8) != 0 {
		return
	}
	pt.queued = append(pt.queued, crashImage{img: pt.fs.Image(pt.rng), exp: pt.expect(), what: what})
}

func (pt *powerTest) verifyQueued() {
	q := pt.queued
	pt.queued = nil
	for _, c := range q {
		pt.recoverImage(c, false /* adopt */)
	}
}

// crashNow cuts the power between operations; with adopt the test goes on
// from the recovered image.
func (pt *powerTest) crashNow(what string, adopt bool) {
	pt.recoverImage(crashImage{img: pt.fs.Image(pt.rng), exp: pt.expect(), what: what}, adopt)
}

// recoverImage opens a crash image and checks it against its expectation.
func (pt *powerTest) recoverImage(c crashImage, adopt bool) {
	pt.crashes++
	dir := pt.newDir()
	crashfs.Write(pt.t, dir, c.img)
	if adopt {
		abandon(pt.log)
		pt.queued = nil
		// Crashes during this recovery must recover to what the image may.
		pt.states, pt.mustLast = c.exp.states, c.exp.mustLast
		pt.pending = nil
		pt.open(dir)
		pt.verifyQueued()
		got := pt.checkRecovered(pt.log, c)
		// Open syncs what it recovered: from now on all of it is acknowledged.
		pt.states, pt.mustLast = []logState{got}, got.last()
		pt.term++
		return
	}
	saved := fsops.SetObserver(nil)
	defer fsops.SetObserver(saved)
	l, err := Open(dir, pt.opts)
	if err != nil {
		pt.fatalf("crash at %q: Open: %v", c.what, err)
	}
	pt.checkRecovered(l, c)
	// The recovered log takes appends.
	next := genPowerEntry(pt.rng, l.LastIndex()+1, pt.term+1000)
	if err := l.Append([]raftpb.Entry{next}); err != nil {
		pt.fatalf("crash at %q: Append after recovery: %v", c.what, err)
	}
	if err := l.Close(); err != nil {
		pt.fatalf("crash at %q: Close: %v", c.what, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		pt.t.Fatal(err)
	}
}

// checkRecovered checks l against c's expectation and returns the state it
// holds.
func (pt *powerTest) checkRecovered(l *Log, c crashImage) logState {
	b, last := l.Boundary(), l.LastIndex()
	if last < c.exp.mustLast {
		pt.fatalf("crash at %q: last index %d, but entries through %d were synced", c.what, last, c.exp.mustLast)
	}
	got, err := l.Entries(b.Index+1, last+1, ^uint64(0))
	if err != nil && last > b.Index {
		pt.fatalf("crash at %q: Entries(%d, %d): %v", c.what, b.Index+1, last+1, err)
	}
	var why []string
	for _, s := range c.exp.states {
		if s.boundary != b {
			why = append(why, fmt.Sprintf("boundary %+v, not %+v", b, s.boundary))
			continue
		}
		if last > s.last() || !entriesEqual(got, s.entries[b.Index:last]) {
			why = append(why, fmt.Sprintf("entries (%d, %d] differ from a state ending at %d", b.Index, last, s.last()))
			continue
		}
		m := logState{entries: s.entries[:last], offsets: s.offsets[:last], boundary: b}
		if err := pt.sameOffsets(l, m); err != nil {
			why = append(why, err.Error())
			continue
		}
		return m
	}
	pt.fatalf("crash at %q: recovered log (%d, %d] matches no state the log was in since its last Sync: %v", c.what, b.Index, last, why)
	return logState{}
}

// sameOffsets compares what l serves by offset and time with m.
func (pt *powerTest) sameOffsets(l *Log, m logState) error {
	if got := l.NextOffset(); got != m.next() {
		return fmt.Errorf("NextOffset %d, want %d", got, m.next())
	}
	var want []Batch
	for i := m.boundary.Index; i < m.last(); i++ {
		e := m.entries[i]
		if records(e) > 0 {
			h, payload, _ := DecodeBatchHeader(e.Data)
			want = append(want, Batch{Index: e.Index, Term: e.Term, BaseOffset: m.offsets[i], Header: h, Payload: payload})
		}
	}
	batches, err := l.Read(m.boundary.NextOffset, m.last(), 1<<30)
	if err != nil {
		return fmt.Errorf("Read: %v", err)
	}
	if !batchesEqual(batches, want) {
		return fmt.Errorf("Read: %d batches differ from the %d expected", len(batches), len(want))
	}
	for range 4 {
		ts := int64(1_000_000 + pt.rng.IntN(int(m.last()+10)*10))
		exp := m.next()
		for i := m.boundary.Index; i < m.last(); i++ {
			if h, ok, _ := entryBatch(m.entries[i].Type, m.entries[i].Data); ok && h.RecordCount > 0 && h.MaxTimestamp >= ts {
				exp = m.offsets[i]
				break
			}
		}
		if got, err := l.OffsetForTime(ts, ^uint64(0)); err != nil || got != exp {
			return fmt.Errorf("OffsetForTime(%d) = %d, %v; want %d", ts, got, err, exp)
		}
	}
	return nil
}

// step runs one random operation.
func (pt *powerTest) step() {
	cur := pt.current()
	first := cur.boundary.Index + 1
	switch op := pt.rng.IntN(20); {
	case op < 9: // append
		pt.appendAt(cur.last() + 1)
	case op < 11 && cur.last() >= first: // an append that conflicts
		pt.term++
		pt.appendAt(first + pt.rng.Uint64N(cur.last()-first+1))
	case op < 16:
		if err := pt.log.Sync(); err != nil {
			pt.fatalf("Sync: %v", err)
		}
		pt.states, pt.mustLast = []logState{cur}, cur.last()
	case op < 18 && cur.last() > first:
		upTo := first + pt.rng.Uint64N(cur.last()-first)
		next := cur
		next.boundary = expectedBoundary(pt.log.Segments(), cur, upTo)
		pt.pending, pt.pendingMust = &next, pt.mustLast
		b, _, err := pt.log.DeleteBefore(upTo)
		if err != nil {
			pt.fatalf("DeleteBefore(%d): %v", upTo, err)
		}
		pt.pending = nil
		if b != next.boundary {
			pt.fatalf("DeleteBefore(%d) = %+v, want %+v", upTo, b, next.boundary)
		}
		pt.states = append(pt.states, next)
	case op < 19: // clean restart
		if err := pt.log.Close(); err != nil {
			pt.fatalf("Close: %v", err)
		}
		pt.states, pt.mustLast = []logState{cur}, cur.last()
		pt.open(pt.fs.Root())
	default:
		pt.setBoundary()
	}
}

// setBoundary moves the log start as a snapshot does: past the end of the
// log, or inside it with the log's term (the head is deleted) or another
// (the log disagrees and is reset).
func (pt *powerTest) setBoundary() {
	cur := pt.current()
	b := Boundary{Index: cur.last() + pt.rng.Uint64N(3), Term: pt.term, NextOffset: cur.next() + int64(pt.rng.IntN(3))}
	if first := cur.boundary.Index + 1; cur.last() > first && pt.rng.IntN(2) == 0 {
		i := first + pt.rng.Uint64N(cur.last()-first)
		b = Boundary{Index: i, Term: cur.entries[i-1].Term, NextOffset: cur.offsets[i]}
		if pt.rng.IntN(2) == 0 {
			b.Term += 100 // disagrees
		}
	}
	if b.Index == 0 || b.Index < cur.boundary.Index || b == cur.boundary {
		return
	}
	next := cur
	next.boundary = b
	agrees := b.Index < cur.last() && b.Term == cur.entries[b.Index-1].Term
	if !agrees {
		next = reset(cur, b)
	}
	pt.pending, pt.pendingMust = &next, min(pt.mustLast, b.Index)
	if err := pt.log.SetBoundary(b); err != nil {
		pt.fatalf("SetBoundary(%+v): %v", b, err)
	}
	pt.pending = nil
	if got := pt.log.Boundary(); got != b {
		pt.fatalf("SetBoundary(%+v) left boundary %+v", b, got)
	}
	// Durable on return: the boundary file is fsync'd, a reset syncs the
	// directory.
	pt.states, pt.mustLast = []logState{next}, min(pt.mustLast, b.Index)
	if !agrees {
		pt.mustLast = b.Index
	}
}

// reset is s after SetBoundary reset the log to start empty after b: the
// entries through b are compacted (placeholders stand for those the log
// never had, and b's own entry carries b's term and next offset).
func reset(s logState, b Boundary) logState {
	keep := min(s.last(), b.Index-1)
	out := logState{
		entries:  append([]raftpb.Entry(nil), s.entries[:keep]...),
		offsets:  append([]int64(nil), s.offsets[:keep]...),
		boundary: b,
	}
	for i := keep + 1; i <= b.Index; i++ {
		out.entries = append(out.entries, raftpb.Entry{Index: i, Term: b.Term})
		out.offsets = append(out.offsets, b.NextOffset)
	}
	return out
}

// expectedBoundary is the boundary DeleteBefore(upTo) leaves: after the
// whole segments, never the active one, that end before upTo.
func expectedBoundary(segs []SegmentInfo, s logState, upTo uint64) Boundary {
	n := 0
	for n < len(segs)-1 && segs[n].LastIndex < upTo {
		n++
	}
	if n == 0 || segs[n].FirstIndex-1 <= s.boundary.Index {
		return s.boundary
	}
	i := segs[n].FirstIndex - 1
	return Boundary{Index: i, Term: s.entries[i-1].Term, NextOffset: segs[n].BaseOffset}
}

// appendAt appends 1-8 entries from index i, truncating the entries from i
// on if there are any.
func (pt *powerTest) appendAt(i uint64) {
	cur := pt.current()
	es := make([]raftpb.Entry, 1+pt.rng.IntN(8))
	for k := range es {
		es[k] = genPowerEntry(pt.rng, i+uint64(k), pt.term)
	}
	next := cur.appended(es)
	pt.pending, pt.pendingMust = &next, min(pt.mustLast, i-1)
	if err := pt.log.Append(es); err != nil {
		pt.fatalf("Append at %d: %v", i, err)
	}
	pt.pending = nil
	pt.states = append(pt.states, next)
	pt.mustLast = min(pt.mustLast, i-1)
}

// genPowerEntry is like genEntry with payloads of 0-1,500 bytes, so that
// frames straddle crash blocks and segments roll inside appends.
func genPowerEntry(rng *rand.Rand, i, term uint64) raftpb.Entry {
	e := raftpb.Entry{Index: i, Term: term, Type: raftpb.EntryNormal}
	switch rng.IntN(10) {
	case 0: // the leader's empty no-op
	case 1:
		e.Type = raftpb.EntryConfChange
		e.Data = []byte(fmt.Sprintf("conf change %d/%d", i, term))
	default:
		payload := bytes.Repeat([]byte{byte(i), byte(term), byte(rng.Uint32())}, rng.IntN(500))
		// Rising with the index in any one log, different in each term.
		ts := int64(1_000_000 + i*10 + term%7)
		e.Data = EncodeBatch(BatchHeader{RecordCount: uint32(1 + rng.IntN(5)), FirstTimestamp: ts - 5, MaxTimestamp: ts, ProposalID: rng.Uint64()}, payload)
	}
	return e
}
