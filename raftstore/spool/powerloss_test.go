package spool

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/raftstore/internal/crashfs"
	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// TestSpoolPowerLoss runs a spool of two queues through random appends
// (plain ones and an application's idempotent producers', retries of
// those among them), syncs, a forwarder's cursor moves (groups recorded as
// pending, then acknowledged, which rolls and deletes forwarded segments
// and saves the producer table first), new upstream epochs, producer ids
// handed out, the upstream producer recorded, and clean restarts; and cuts
// the power at random points: between operations and inside them, at
// every sync, creation, removal and rename (see package crashfs), from the
// spool directory's creation on. Each point is imaged more than once (an
// image is one random outcome of the cut), and each image is opened as a
// spool of its own, which must:
//
//   - open;
//   - hold every batch whose Sync returned, byte for byte, at the offset
//     and index Append gave it, unless it was forwarded (before the cursor)
//     and its segment deleted; then at most the batches appended after
//     them, in order, exactly as appended: nothing garbled, nothing twice;
//   - have as its cursor the last one Advance or NewEpoch returned, or the
//     one being written at the cut, never a mix, with its index naming the
//     batch at its offset;
//   - give the upstream producer id recorded before the cut without asking
//     the cluster again, and application producer ids above every one
//     handed out before the cut;
//   - recognize a retry of each of an application producer's last Window
//     batches it holds (or held: forwarded and deleted) as a duplicate at
//     that batch's offset, so that a batch acked as a duplicate before the
//     cut is one after; and spool, not call a duplicate, that producer's
//     next batch, in particular one appended before the cut and lost with
//     it.
//
// Some images become the spool's disk, so that recovery (and what follows
// it) is cut too.
//
// RUNNEL_POWERLOSS_SEED replays one seed; RUNNEL_POWERLOSS_RUNS sets how
// many runs (default 6).
func TestSpoolPowerLoss(t *testing.T) {
	if prev := fsops.SetObserver(nil); prev != nil {
		t.Fatal("observer already set")
	}
	seed, runs := crashfs.Runs(t, 6)
	defer fsops.SetObserver(nil)
	var total powerStats
	start := time.Now()
	for r := range runs {
		pt := &spoolPowerTest{t: t, seed: seed + uint64(r), root: crashfs.MemTempDir(t)}
		pt.run()
		total.add(pt.stats)
	}
	t.Logf("%d runs from seed %d in %v: %+v", runs, seed, time.Since(start).Round(time.Millisecond), total)
	// NB: a default run must reach what the checks are about, or it tests
	// nothing: seeds are random.
	if runs >= 6 && (total.deleted == 0 || total.dupChecks == 0 || total.lostRetried == 0 || total.inside == 0) {
		t.Fatalf("the runs never recovered an image with deleted segments, a duplicate to check or a lost application batch to retry: %+v", total)
	}
}

// powerStats counts what the recovered images held.
type powerStats struct {
	points, images, inside int
	// deleted: images whose queue had deleted forwarded segments;
	// dupChecks: retries checked to be duplicates after a recovery;
	// lostRetried: application batches lost with a cut and spooled again.
	deleted, dupChecks, lostRetried int
	// ackedDups: retries acknowledged as duplicates before a cut.
	ackedDups int
}

func (s *powerStats) add(o powerStats) {
	s.points += o.points
	s.images += o.images
	s.inside += o.inside
	s.deleted += o.deleted
	s.dupChecks += o.dupChecks
	s.lostRetried += o.lostRetried
	s.ackedDups += o.ackedDups
}

// powerQueues are the test's queues.
var powerQueues = []queueKey{{"orders", 0}, {"my-topic", 3}}

// queueModel is what the test knows of one queue in this lineage (since
// the spool's disk was last replaced by an image).
type queueModel struct {
	// batches is everything the queue holds or held, in order, with the
	// offset and index Append gave it (those before the log start were
	// forwarded and their segments deleted); batches[:synced] are durable.
	batches []Batch
	synced  int
	// appending is the batch an Append in progress adds, at the end.
	appending *Batch
	// cursors are the cursors a crash now may leave: the last one saved,
	// and the one being written.
	cursors []Cursor
}

// end is the offset after the first n batches.
func (m *queueModel) end(n int) int64 { return batchesEnd(m.batches[:n]) }

// batchesEnd is the offset after bs, batches of a queue from its start.
func batchesEnd(bs []Batch) int64 {
	if len(bs) == 0 {
		return 0
	}
	return bs[len(bs)-1].End()
}

// candidates is every batch a crash now may leave.
func (m *queueModel) candidates() []Batch {
	if m.appending == nil {
		return m.batches
	}
	return append(m.batches[:len(m.batches):len(m.batches)], *m.appending)
}

// identityModel is what the spool handed out.
type identityModel struct {
	// upstream was recorded (UpstreamProducer returned it); recording is
	// the one being recorded.
	upstream, recording int64
	// handed is the highest application producer id NextProducerID
	// returned.
	handed int64
}

// spoolCrash is a crash image and what the test knew when it was taken.
type spoolCrash struct {
	img    crashfs.Image
	what   string
	queues []queueModel
	ident  identityModel
}

type spoolPowerTest struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	root  string
	dirs  int
	opts  Options
	fs    *crashfs.FS
	spool *Spool
	qs    []*Queue
	// last is each queue's last Appended of this lineage (to Sync).
	last  []*Appended
	stats powerStats

	queues []queueModel
	ident  identityModel
	// pids are the application producer ids in use.
	pids []int64
	// armed: crash points inside operations are taken.
	armed  bool
	queued []spoolCrash
}

func (pt *spoolPowerTest) fatalf(format string, args ...any) {
	pt.t.Helper()
	pt.t.Fatalf("seed %d (RUNNEL_POWERLOSS_SEED=%d to replay): %s", pt.seed, pt.seed, fmt.Sprintf(format, args...))
}

func (pt *spoolPowerTest) newDir() string {
	pt.dirs++
	return filepath.Join(pt.root, strconv.Itoa(pt.dirs))
}

// spoolDir is where the spool is in a lineage's directory: one level
// down, so that Open creates it and its creation is cut too.
func spoolDir(root string) string { return filepath.Join(root, "spool") }

func (pt *spoolPowerTest) run() {
	pt.rng = rand.New(rand.NewPCG(pt.seed, pt.seed>>32|1))
	pt.opts = Options{MaxBytes: 64 << 20, ProducerExpiry: 24 * time.Hour,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		segmentBytes: int64(2048 + pt.rng.IntN(4)*1024)}
	pt.queues = make([]queueModel, len(powerQueues))
	for i := range pt.queues {
		pt.queues[i].cursors = []Cursor{{}}
	}
	dir := pt.newDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		pt.t.Fatal(err)
	}
	// The lineage's directory is there and durable; the spool's is not yet.
	pt.fs = crashfs.New(pt.t, dir)
	pt.fs.Point = pt.maybeCrash
	fsops.SetObserver(pt.fs)
	pt.armed = true
	pt.open()
	for range 70 {
		pt.step()
		pt.verifyQueued()
		if pt.rng.IntN(3) == 0 {
			pt.crashNow("between operations", pt.rng.IntN(8) == 0)
		}
	}
	pt.armed = false
	if err := pt.spool.Close(); err != nil {
		pt.fatalf("Close: %v", err)
	}
	pt.verifyQueued()
	fsops.SetObserver(nil)
}

// open opens the running spool and its queues, crash points armed.
func (pt *spoolPowerTest) open() {
	s, err := Open(spoolDir(pt.fs.Root()), pt.opts)
	if err != nil {
		pt.fatalf("Open: %v", err)
	}
	pt.spool = s
	pt.openQueues()
}

func (pt *spoolPowerTest) openQueues() {
	pt.qs, pt.last = make([]*Queue, len(powerQueues)), make([]*Appended, len(powerQueues))
	for i, k := range powerQueues {
		q, err := pt.spool.Queue(k.topic, k.partition)
		if err != nil {
			pt.fatalf("Queue %s/%d: %v", k.topic, k.partition, err)
		}
		pt.qs[i] = q
	}
}

// snapshot is what a crash now must recover to.
func (pt *spoolPowerTest) snapshot(what string) spoolCrash {
	c := spoolCrash{what: what, queues: make([]queueModel, len(pt.queues)), ident: pt.ident}
	for i, m := range pt.queues {
		// NB: batches only grows within a lineage: the slice header is
		// a stable copy.
		m.cursors = slices.Clone(m.cursors)
		if m.appending != nil {
			b := *m.appending
			m.appending = &b
		}
		c.queues[i] = m
	}
	return c
}

// maybeCrash is the crash model's point: inside an operation it queues
// images, checked once the operation returns. The spool does its I/O on
// the caller's goroutine, so the model is not changing meanwhile.
func (pt *spoolPowerTest) maybeCrash(what string) {
	if !pt.armed || pt.rng.IntN(4) != 0 {
		return
	}
	pt.stats.points++
	for range 1 + pt.rng.IntN(2) {
		c := pt.snapshot(what)
		c.img = pt.fs.Image(pt.rng)
		pt.queued = append(pt.queued, c)
	}
}

func (pt *spoolPowerTest) verifyQueued() {
	q := pt.queued
	pt.queued = nil
	for _, c := range q {
		pt.stats.inside++
		pt.recoverImage(c, false)
	}
}

// crashNow cuts the power between operations, imaging the cut twice; with
// adopt the test goes on from the second image.
func (pt *spoolPowerTest) crashNow(what string, adopt bool) {
	pt.stats.points++
	for i := range 2 {
		c := pt.snapshot(what)
		c.img = pt.fs.Image(pt.rng)
		pt.recoverImage(c, adopt && i == 1)
	}
}

// step runs one random operation.
func (pt *spoolPowerTest) step() {
	qi := pt.rng.IntN(len(pt.qs))
	switch op := pt.rng.IntN(100); {
	case op < 30:
		pt.appendBatch(qi, pt.plainBatch())
	case op < 42:
		pt.appendApp(qi)
	case op < 48:
		pt.retryApp(qi)
	case op < 66:
		pt.sync(qi)
	case op < 88:
		pt.forward(qi)
	case op < 91:
		pt.newEpoch(qi)
	case op < 95:
		pt.nextProducerID()
	case op < 97:
		pt.upstreamProducer()
	default:
		pt.restart()
	}
}

// plainBatch is a batch of 1-4 records with 0-1,500 bytes of payload, so
// that frames straddle crash blocks and segments roll inside appends.
func (pt *spoolPowerTest) plainBatch() Batch {
	n := pt.rng.IntN(1500)
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(pt.rng.Uint32())
	}
	ts := int64(1_000_000 + pt.rng.IntN(1000))
	return Batch{Count: uint32(1 + pt.rng.IntN(4)), FirstTimestamp: ts, MaxTimestamp: ts + int64(pt.rng.IntN(50)),
		Codec: uint8(pt.rng.IntN(2)), SpooledAt: time.Now().UnixMilli(), Payload: payload}
}

// appendBatch appends b to queue qi, which must spool it at the queue's end.
func (pt *spoolPowerTest) appendBatch(qi int, b Batch) {
	m := &pt.queues[qi]
	want := b
	want.Offset, want.Index = m.end(len(m.batches)), pt.nextIndex(qi)
	m.appending = &want
	a, err := pt.qs[qi].Append(b)
	m.appending = nil
	if err != nil {
		pt.fatalf("queue %d: Append: %v", qi, err)
	}
	if a.Duplicate || a.Offset != want.Offset || a.index != want.Index {
		pt.fatalf("queue %d: Append at offset %d index %d (duplicate %v), want %d index %d", qi, a.Offset, a.index, a.Duplicate, want.Offset, want.Index)
	}
	m.batches = append(m.batches, want)
	pt.last[qi] = &a
}

// nextIndex is the index the queue's next batch gets: the log holds only
// batches, one entry each.
func (pt *spoolPowerTest) nextIndex(qi int) uint64 {
	m := &pt.queues[qi]
	if len(m.batches) == 0 {
		return 1
	}
	return m.batches[len(m.batches)-1].Index + 1
}

// appHistory is the batches of application producer pid in bs.
func appHistory(bs []Batch, pid int64) []Batch {
	var out []Batch
	for _, b := range bs {
		if b.ProducerID == pid {
			out = append(out, b)
		}
	}
	return out
}

// nextApp is producer pid's next batch after its history h.
func (pt *spoolPowerTest) nextApp(pid int64, h []Batch) Batch {
	b := pt.plainBatch()
	b.ProducerID = pid
	if len(h) > 0 {
		b.BaseSequence = h[len(h)-1].BaseSequence + int64(h[len(h)-1].Count)
	}
	return b
}

// appendApp appends the next batch of an application producer.
func (pt *spoolPowerTest) appendApp(qi int) {
	if len(pt.pids) == 0 || len(pt.pids) < 3 && pt.rng.IntN(4) == 0 {
		pt.nextProducerID()
	}
	pid := pt.pids[pt.rng.IntN(len(pt.pids))]
	pt.appendBatch(qi, pt.nextApp(pid, appHistory(pt.queues[qi].batches, pid)))
}

// retryApp sends one of an application producer's last Window batches
// again, as a client retries one whose ack it lost: the queue answers it
// a duplicate at its first offset, and its Sync acknowledges it.
func (pt *spoolPowerTest) retryApp(qi int) {
	m := &pt.queues[qi]
	if len(pt.pids) == 0 {
		return
	}
	pid := pt.pids[pt.rng.IntN(len(pt.pids))]
	h := appHistory(m.batches, pid)
	if len(h) == 0 {
		return
	}
	orig := h[len(h)-1-pt.rng.IntN(min(Window, len(h)))]
	retry := orig
	retry.Offset, retry.Index = 0, 0
	a, err := pt.qs[qi].Append(retry)
	if err != nil || !a.Duplicate || a.Offset != orig.Offset {
		pt.fatalf("queue %d: retry of producer %d's batch at offset %d: offset %d duplicate %v, %v", qi, pid, orig.Offset, a.Offset, a.Duplicate, err)
	}
	if err := pt.qs[qi].Sync(a); err != nil {
		pt.fatalf("queue %d: Sync of a duplicate: %v", qi, err)
	}
	// NB: a duplicate's Sync covers everything appended before it.
	m.synced = len(m.batches)
	pt.stats.ackedDups++
}

// sync syncs queue qi's last append: everything appended to it so far is
// then durable (one goroutine appends).
func (pt *spoolPowerTest) sync(qi int) {
	a := pt.last[qi]
	if a == nil {
		return
	}
	if err := pt.qs[qi].Sync(*a); err != nil {
		pt.fatalf("queue %d: Sync: %v", qi, err)
	}
	m := &pt.queues[qi]
	m.synced = len(m.batches)
}

// durable reads queue qi's batches from offset from on, as the forwarder
// does: only what the queue says is durable (what a Sync covered, or what
// the queue synced itself), which the forwarder sends on that word: from
// now on a crash must keep it.
func (pt *spoolPowerTest) durable(qi int, from int64) []Batch {
	var out []Batch
	for {
		bs, _, err := pt.qs[qi].Read(from, 1<<20)
		if err != nil {
			pt.fatalf("queue %d: Read(%d): %v", qi, from, err)
		}
		if len(bs) == 0 {
			break
		}
		out = append(out, bs...)
		from = bs[len(bs)-1].End()
	}
	m := &pt.queues[qi]
	for _, b := range out {
		i := slices.IndexFunc(m.batches, func(a Batch) bool { return a.Offset == b.Offset })
		if i < 0 || !sameBatch(b, m.batches[i]) {
			pt.fatalf("queue %d: Read(%d) serves a batch at offset %d index %d that is not the one appended there", qi, from, b.Offset, b.Index)
		}
		m.synced = max(m.synced, i+1)
	}
	return out
}

// forward moves queue qi's cursor as the forwarder does: it records new
// groups of durable batches as pending (at most Window), before sending
// them; or the cluster acknowledges the first pending groups (with none
// pending, the cursor passes some batches, as when they are dropped).
func (pt *spoolPowerTest) forward(qi int) {
	q := pt.qs[qi]
	cur := q.Cursor()
	ends := cur.Pending()
	var c Cursor
	switch {
	case len(ends) < Window && pt.rng.IntN(2) == 0:
		from := cur.Offset
		if len(ends) > 0 {
			from = ends[len(ends)-1]
		}
		bs := pt.durable(qi, from)
		if len(bs) == 0 {
			return
		}
		more := slices.Clone(ends)
		for i := 0; i < len(bs) && len(more) < Window; {
			i = min(len(bs), i+1+pt.rng.IntN(3))
			more = append(more, bs[i-1].End())
		}
		c = cur.WithPending(more)
	case len(ends) > 0:
		k := 1 + pt.rng.IntN(len(ends))
		bs := pt.durable(qi, cur.Offset)
		i := slices.IndexFunc(bs, func(b Batch) bool { return b.End() == ends[k-1] })
		if i < 0 {
			pt.fatalf("queue %d: the pending group ending at %d is not among the durable batches", qi, ends[k-1])
		}
		c = cur.WithPending(ends[k:])
		c.Offset, c.Index = bs[i].End(), bs[i].Index+1
	default:
		bs := pt.durable(qi, cur.Offset)
		if len(bs) == 0 {
			return
		}
		last := bs[pt.rng.IntN(len(bs))]
		c = cur.WithPending(nil)
		c.Offset, c.Index = last.End(), last.Index+1
	}
	pt.saveCursor(qi, c, func() (Cursor, error) { return c, q.Advance(c) })
}

// newEpoch starts queue qi's next upstream epoch, as the forwarder does
// when the cluster forgot its producer.
func (pt *spoolPowerTest) newEpoch(qi int) {
	want := pt.qs[qi].Cursor().WithPending(nil)
	want.Epoch++
	want.EpochBase = want.Offset
	pt.saveCursor(qi, want, pt.qs[qi].NewEpoch)
}

// saveCursor runs write, which saves cursor c of queue qi.
func (pt *spoolPowerTest) saveCursor(qi int, c Cursor, write func() (Cursor, error)) {
	m := &pt.queues[qi]
	m.cursors = append(m.cursors, c)
	got, err := write()
	if err != nil {
		pt.fatalf("queue %d: saving cursor %+v: %v", qi, c, err)
	}
	if got != c || pt.qs[qi].Cursor() != c {
		pt.fatalf("queue %d: saved cursor %+v, the queue says %+v, want %+v", qi, got, pt.qs[qi].Cursor(), c)
	}
	m.cursors = []Cursor{c}
}

// nextProducerID takes an application producer id, which must be new.
func (pt *spoolPowerTest) nextProducerID() {
	id, err := pt.spool.NextProducerID()
	if err != nil {
		pt.fatalf("NextProducerID: %v", err)
	}
	if id <= pt.ident.handed {
		pt.fatalf("NextProducerID = %d, but %d was handed out before", id, pt.ident.handed)
	}
	pt.ident.handed = id
	pt.pids = append(pt.pids, id)
}

// upstreamProducer asks for the spool's upstream producer id, which the
// cluster gives once.
func (pt *spoolPowerTest) upstreamProducer() {
	want := pt.ident.upstream
	if want == 0 {
		want = int64(1_000_000 + pt.rng.IntN(1_000_000))
		pt.ident.recording = want
	}
	asked := false
	id, err := pt.spool.UpstreamProducer(func() (int64, error) { asked = true; return want, nil })
	pt.ident.recording = 0
	if err != nil || id != want || asked != (pt.ident.upstream == 0) {
		pt.fatalf("UpstreamProducer = %d, %v (the cluster asked: %v); want %d", id, err, asked, want)
	}
	pt.ident.upstream = id
}

// restart closes the spool and opens it again: Close syncs, so all that
// was appended is durable, and must be there.
func (pt *spoolPowerTest) restart() {
	if err := pt.spool.Close(); err != nil {
		pt.fatalf("Close: %v", err)
	}
	for i := range pt.queues {
		pt.queues[i].synced = len(pt.queues[i].batches)
	}
	pt.open()
	c := pt.snapshot("a clean restart")
	got := pt.checkRecovered(pt.spool, c, func(format string, args ...any) {
		pt.t.Helper()
		pt.fatalf("after a clean restart: %s", fmt.Sprintf(format, args...))
	})
	for i, g := range got {
		if len(g.batches) != len(pt.queues[i].batches) {
			pt.fatalf("after a clean restart queue %d holds %d batches of the %d appended", i, len(g.batches), len(pt.queues[i].batches))
		}
	}
}

// recoverImage opens c in a spool directory of its own and checks it;
// with adopt, the test goes on from a second copy of it.
func (pt *spoolPowerTest) recoverImage(c spoolCrash, adopt bool) {
	pt.stats.images++
	pt.verifyImage(c)
	if !adopt {
		return
	}
	dir := pt.newDir()
	crashfs.Write(pt.t, dir, c.img)
	// The running spool's disk is gone: nothing it does from now on counts.
	fsops.SetObserver(nil)
	pt.armed = false
	pt.spool.Close()
	pt.verifyQueued() // those taken before the cut, against this lineage
	// Crashes during this recovery must recover what the image must.
	pt.queues, pt.ident = c.queues, c.ident
	pt.fs = crashfs.New(pt.t, dir)
	pt.fs.Point = pt.maybeCrash
	fsops.SetObserver(pt.fs)
	pt.armed = true
	s, err := Open(spoolDir(dir), pt.opts)
	if err != nil {
		pt.fatalf("crash at %q: Open of the adopted image: %v", c.what, err)
	}
	pt.spool = s
	fail := func(format string, args ...any) {
		pt.t.Helper()
		pt.fatalf("crash at %q, adopted: %s", c.what, fmt.Sprintf(format, args...))
	}
	pt.queues = pt.checkRecovered(s, c, fail)
	s.mu.Lock()
	pt.ident.upstream, pt.ident.recording = s.ident.upstream, 0
	s.mu.Unlock()
	if c.ident.upstream != 0 && pt.ident.upstream != c.ident.upstream {
		fail("upstream producer %d, but %d was recorded", pt.ident.upstream, c.ident.upstream)
	}
	// The producers whose batches all went with the cut remain in use;
	// their ids are not handed out again (ident.handed stays).
	pt.openQueues()
}

// verifyImage opens c as a spool, checks it, and checks what it answers
// its producers.
func (pt *spoolPowerTest) verifyImage(c spoolCrash) {
	fail := func(format string, args ...any) {
		pt.t.Helper()
		pt.fatalf("crash at %q: %s", c.what, fmt.Sprintf(format, args...))
	}
	saved := fsops.SetObserver(nil)
	defer fsops.SetObserver(saved)
	dir := pt.newDir()
	crashfs.Write(pt.t, dir, c.img)
	s, err := Open(spoolDir(dir), pt.opts)
	if err != nil {
		fail("Open: %v", err)
	}
	got := pt.checkRecovered(s, c, fail)

	// The identity: the upstream producer as recorded, application ids
	// never handed out before.
	asked := false
	fresh := int64(1)
	up, err := s.UpstreamProducer(func() (int64, error) { asked = true; return fresh, nil })
	switch {
	case err != nil:
		fail("UpstreamProducer: %v", err)
	case c.ident.upstream != 0 && (asked || up != c.ident.upstream):
		fail("UpstreamProducer = %d (the cluster asked: %v), but %d was recorded before the cut", up, asked, c.ident.upstream)
	case c.ident.upstream == 0 && !asked && up != c.ident.recording:
		fail("UpstreamProducer = %d without asking the cluster, but none was recorded", up)
	}
	id, err := s.NextProducerID()
	if err != nil || id <= c.ident.handed {
		fail("NextProducerID = %d, %v, but %d was handed out before the cut", id, err, c.ident.handed)
	}

	// The producer tables: each producer's last Window batches are
	// recognized; its next batch is spooled.
	for i, k := range powerQueues {
		q, err := s.Queue(k.topic, k.partition)
		if err != nil {
			fail("Queue %s/%d: %v", k.topic, k.partition, err)
		}
		hist, cands := got[i].batches, c.queues[i].candidates()
		next := q.log.NextOffset()
		pids := map[int64]bool{}
		for _, b := range cands {
			if b.ProducerID != 0 && !pids[b.ProducerID] {
				pids[b.ProducerID] = true
				h := appHistory(hist, b.ProducerID)
				for _, orig := range h[max(0, len(h)-Window):] {
					retry := orig
					retry.Offset, retry.Index = 0, 0
					a, err := q.Append(retry)
					if err != nil || !a.Duplicate || a.Offset != orig.Offset {
						fail("queue %d: a retry of producer %d's batch (sequence %d) at offset %d: offset %d duplicate %v, %v; want a duplicate",
							i, orig.ProducerID, orig.BaseSequence, orig.Offset, a.Offset, a.Duplicate, err)
					}
					pt.stats.dupChecks++
				}
				// The batch after: one appended before the cut and lost
				// with it (its client never had its ack, and retries
				// it), or a new one.
				nb := pt.nextApp(b.ProducerID, h)
				if lost := appHistory(cands[len(hist):], b.ProducerID); len(lost) > 0 {
					nb = lost[0]
					nb.Offset, nb.Index = 0, 0
					pt.stats.lostRetried++
				}
				a, err := q.Append(nb)
				if err == nil {
					err = q.Sync(a)
				}
				if err != nil || a.Duplicate || a.Offset != next {
					fail("queue %d: producer %d's batch (sequence %d) after the %d it has: offset %d duplicate %v, %v; want it spooled at %d",
						i, nb.ProducerID, nb.BaseSequence, len(h), a.Offset, a.Duplicate, err, next)
				}
				next += int64(nb.Count)
			}
		}
	}
	if err := s.Close(); err != nil {
		fail("Close: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		pt.t.Fatal(err)
	}
}

// checkRecovered checks the queues and cursors of a spool recovered from
// c, and returns the queues as it holds them: the batches of c's up to its
// log's end, all durable now, and its cursor.
func (pt *spoolPowerTest) checkRecovered(s *Spool, c spoolCrash, fail func(string, ...any)) []queueModel {
	pt.t.Helper()
	have := map[queueKey]*Queue{}
	for _, q := range s.Queues() {
		have[queueKey{q.Topic, q.Partition}] = q
	}
	out := make([]queueModel, len(powerQueues))
	for i, k := range powerQueues {
		m := c.queues[i]
		cands := m.candidates()
		q := have[k]
		delete(have, k)
		var got []Batch
		var start, next int64
		cur := Cursor{}
		if q != nil {
			start, next, cur = q.log.StartOffset(), q.log.NextOffset(), q.Cursor()
			for from := start; ; {
				bs, _, err := q.Read(from, 1<<20)
				if err != nil {
					fail("queue %d: Read(%d): %v", i, from, err)
				}
				if len(bs) == 0 {
					break
				}
				got = append(got, bs...)
				from = bs[len(bs)-1].End()
			}
			if start > 0 {
				pt.stats.deleted++
			}
		}
		// The batches: from the log start, those appended, byte for byte.
		first := slices.IndexFunc(cands, func(b Batch) bool { return b.Offset >= start })
		if first < 0 {
			first = len(cands)
		}
		if batchesEnd(cands[:first]) != start {
			fail("queue %d: the log starts at offset %d, which no batch appended starts at", i, start)
		}
		if len(got) > len(cands)-first {
			fail("queue %d: %d batches from offset %d, but only %d were appended from there", i, len(got), start, len(cands)-first)
		}
		for j, b := range got {
			if want := cands[first+j]; !sameBatch(b, want) {
				fail("queue %d: the batch at offset %d index %d (%d records, %d bytes) is not the one appended there, at offset %d index %d (%d records, %d bytes)",
					i, b.Offset, b.Index, b.Count, len(b.Payload), want.Offset, want.Index, want.Count, len(want.Payload))
			}
		}
		held := first + len(got)
		if end := batchesEnd(cands[:held]); next != end {
			fail("queue %d: the log's next offset is %d, but its batches end at %d", i, next, end)
		}
		if held < m.synced {
			fail("queue %d: holds batches up to offset %d, but those up to %d were durable (Sync returned, or Read served them) (%d of %d lost)",
				i, next, m.end(m.synced), m.synced-held, m.synced)
		}
		// The cursor: one saved, never past what was synced, and the log
		// holds what it has not forwarded.
		i0 := slices.IndexFunc(m.cursors, func(w Cursor) bool { return sameCursor(cur, w) })
		if i0 < 0 {
			fail("queue %d: the cursor %+v (pending %v) is none of those saved or being saved at the cut: %+v", i, cur, cur.Pending(), m.cursors)
		}
		if p := cur.Pending(); cur.Offset > m.end(m.synced) || len(p) > 0 && p[len(p)-1] > m.end(m.synced) {
			fail("queue %d: the cursor %+v (pending %v) is past what was synced, offset %d", i, cur, cur.Pending(), m.end(m.synced))
		}
		if start > cur.Offset {
			fail("queue %d: the log starts at offset %d, past the cursor %d: it deleted batches not forwarded", i, start, cur.Offset)
		}
		if q != nil {
			want := q.log.LastIndex() + 1
			if j := slices.IndexFunc(got, func(b Batch) bool { return b.Offset == cur.Offset }); j >= 0 {
				want = got[j].Index
			}
			if cur.Index != want || m.cursors[i0].Index != 0 && m.cursors[i0].Index != want {
				fail("queue %d: the cursor at offset %d has index %d (saved %d), but the batch there is index %d", i, cur.Offset, cur.Index, m.cursors[i0].Index, want)
			}
		}
		out[i] = queueModel{batches: cands[:held:held], synced: held, cursors: []Cursor{cur}}
	}
	for k := range have {
		fail("a queue %s/%d that was never created", k.topic, k.partition)
	}
	return out
}

// sameCursor compares what a cursor records but its index, which recovery
// derives from the offset (and a new queue's zero cursor has none).
func sameCursor(a, b Cursor) bool {
	return a.Offset == b.Offset && a.Epoch == b.Epoch && a.EpochBase == b.EpochBase && slices.Equal(a.Pending(), b.Pending())
}

func sameBatch(a, b Batch) bool {
	return a.Offset == b.Offset && a.Index == b.Index && a.Count == b.Count && a.FirstTimestamp == b.FirstTimestamp &&
		a.MaxTimestamp == b.MaxTimestamp && a.Codec == b.Codec && a.SpooledAt == b.SpooledAt && a.ProducerID == b.ProducerID &&
		a.ProducerEpoch == b.ProducerEpoch && a.BaseSequence == b.BaseSequence && bytes.Equal(a.Payload, b.Payload)
}
