package raftstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/raftstore/internal/crashfs"
	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// TestPartitionPowerLoss runs a single-replica partition through random
// pipelined proposals, clean restarts, retention and idle spells, and cuts
// the power at random points: between operations and inside them, at every
// sync, creation, removal and rename any of the partition's goroutines
// makes (see package crashfs), from the partition's creation on. Each crash
// image is opened as a data directory of its own, and must:
//
//   - open, and the partition in it (the broker starts);
//   - hold every record acknowledged before the cut, once, at the offset
//     its acknowledgement gave (unless retention deleted it), in order;
//   - hold nothing that was not proposed before the cut, nothing twice;
//   - have a state file whose term is not behind any record in its log
//     (raft acts on a term only once it is durable: statefile.go), and a
//     commit index within its log;
//   - take a proposal.
//
// Some cuts are taken as the partition's new disk, so that recovery (and
// the elections and appends after it) is cut too.
//
// RUNNEL_POWERLOSS_SEED replays one seed (as far as the goroutines'
// interleaving allows); RUNNEL_POWERLOSS_RUNS sets how many runs.
func TestPartitionPowerLoss(t *testing.T) {
	if prev := fsops.SetObserver(nil); prev != nil {
		t.Fatal("observer already set")
	}
	seed, runs := crashfs.Runs(t, 16)
	defer fsops.SetObserver(nil)
	points, inside := 0, 0
	start := time.Now()
	for r := range runs {
		pt := &partitionPowerTest{t: t, seed: seed + uint64(r), root: crashfs.MemTempDir(t)}
		pt.run()
		points += pt.crashes
		inside += pt.inside
	}
	t.Logf("%d runs from seed %d, %d crash points recovered (%d inside operations) in %v",
		runs, seed, points, inside, time.Since(start).Round(time.Millisecond))
}

const powerPartition = "p-0"

// ack is a record known to be in the partition at offset: acknowledged,
// or read as committed.
type ack struct {
	payload string
	offset  int64
}

// partitionCrash is a crash image and what was known when it was taken.
type partitionCrash struct {
	img  crashfs.Image
	what string
	// acks[:acked] were acknowledged; the records proposed since the
	// lineage began, numbered below proposed, may be there.
	acked, proposed int
}

type partitionPowerTest struct {
	t       *testing.T
	seed    uint64
	root    string
	dirs    int
	scfg    Config
	pcfg    PartitionConfig
	fs      *crashfs.FS
	store   *Store
	part    *Partition
	crashes int
	inside  int

	mu  sync.Mutex // guards the fields below: crash points come from the partition's goroutines
	rng *rand.Rand
	// armed: crash points inside operations are taken.
	armed bool
	// acks are the records of this lineage (since the last adopted image)
	// known to be in the log, in the order learnt.
	acks []ack
	// lineage is the number of the first record proposed in this lineage;
	// records from lineage to next-1 have been proposed in it.
	lineage, next int
	queued        []partitionCrash
}

func (pt *partitionPowerTest) fatalf(format string, args ...any) {
	pt.t.Helper()
	pt.t.Fatalf("seed %d (RUNNEL_POWERLOSS_SEED=%d to replay): %s", pt.seed, pt.seed, fmt.Sprintf(format, args...))
}

func (pt *partitionPowerTest) newDir() string {
	pt.dirs++
	return filepath.Join(pt.root, strconv.Itoa(pt.dirs))
}

func (pt *partitionPowerTest) intn(n int) int {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.rng.IntN(n)
}

func (pt *partitionPowerTest) run() {
	pt.rng = rand.New(rand.NewPCG(pt.seed, pt.seed>>32|1))
	pt.scfg = Config{
		TickInterval:           2 * time.Millisecond,
		RetentionCheckInterval: 5 * time.Millisecond,
		ProposalTimeout:        5 * time.Second,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	pt.pcfg = PartitionConfig{SegmentBytes: int64(1024 + pt.rng.IntN(4)*2048), Incarnation: "incarnation-1"}
	if pt.rng.IntN(2) == 0 {
		pt.pcfg.RetentionBytes = int64(2048 + pt.rng.IntN(4)*2048)
	}
	dir := pt.newDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		pt.t.Fatal(err)
	}
	// The data directory is there and durable; the partition's is not yet.
	pt.open(dir)
	for range 30 {
		pt.step()
		pt.verifyQueued()
		if pt.intn(3) == 0 {
			pt.crashNow("between operations", pt.intn(6) == 0)
		}
	}
	pt.closeStore()
	pt.verifyQueued()
	fsops.SetObserver(nil)
}

// open opens the data directory dir as the running store, crash points
// armed from the start (so that creation and recovery are cut too), and
// the partition in it.
func (pt *partitionPowerTest) open(dir string) {
	pt.fs = crashfs.New(pt.t, dir)
	pt.fs.Point = pt.maybeCrash
	fsops.SetObserver(pt.fs)
	pt.mu.Lock()
	pt.armed = true
	pt.mu.Unlock()
	pt.openStore()
}

func (pt *partitionPowerTest) openStore() {
	cfg := pt.scfg
	cfg.Dir = pt.fs.Root()
	s, err := Open(cfg)
	if err != nil {
		pt.fatalf("Open %s: %v", cfg.Dir, err)
	}
	p, err := s.OpenPartition(powerPartition, pt.pcfg)
	if err != nil {
		pt.fatalf("OpenPartition in %s: %v", cfg.Dir, err)
	}
	pt.store, pt.part = s, p
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		pt.fatalf("partition in %s not ready", cfg.Dir)
	}
}

func (pt *partitionPowerTest) closeStore() {
	if err := pt.store.Close(); err != nil {
		pt.fatalf("Close: %v", err)
	}
}

// maybeCrash is the crash model's point: it queues an image for checking
// between operations.
func (pt *partitionPowerTest) maybeCrash(what string) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if !pt.armed || pt.rng.IntN(3) != 0 {
		return
	}
	// NB: what was acknowledged is read before the image: it was durable
	// before its acknowledgement, so before the image.
	c := partitionCrash{what: what, acked: len(pt.acks)}
	c.img = pt.fs.Image(pt.rng)
	c.proposed = pt.next
	pt.queued = append(pt.queued, c)
}

func (pt *partitionPowerTest) verifyQueued() {
	pt.mu.Lock()
	q := pt.queued
	pt.queued = nil
	pt.mu.Unlock()
	for _, c := range q {
		pt.inside++
		pt.recoverImage(c, false)
	}
}

// crashNow cuts the power between operations; with adopt the test goes on
// from the recovered image.
func (pt *partitionPowerTest) crashNow(what string, adopt bool) {
	pt.mu.Lock()
	c := partitionCrash{what: what, acked: len(pt.acks)}
	c.img = pt.fs.Image(pt.rng)
	c.proposed = pt.next
	if adopt {
		// The running store's disk is gone: nothing it does from now on
		// counts.
		pt.armed = false
	}
	pt.mu.Unlock()
	pt.recoverImage(c, adopt)
}

// payload is record n's: its name, then 0-600 bytes of padding so that
// frames straddle crash blocks and segments roll inside appends.
func (pt *partitionPowerTest) payload(n int) string {
	name := fmt.Sprintf("r%d/%d|", pt.seed, n)
	return name + strings.Repeat(string(rune('a'+n%26)), pt.intn(600))
}

func recordNumber(payload string) (int, bool) {
	name, _, ok := strings.Cut(payload, "|")
	if !ok {
		return 0, false
	}
	_, num, ok := strings.Cut(name, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// step runs one random operation.
func (pt *partitionPowerTest) step() {
	switch op := pt.intn(14); {
	case op < 10:
		pt.proposeSome(1 + pt.intn(8))
	case op < 11: // clean restart
		pt.closeStore()
		pt.openStore()
	default: // idle: ticks, lazy state saves, retention
		time.Sleep(time.Duration(pt.intn(10)) * time.Millisecond)
	}
}

// proposeSome submits n batches at once (one group commit may take them
// all) and waits for them.
func (pt *partitionPowerTest) proposeSome(n int) {
	type submitted struct {
		payload string
		pr      *Proposal
	}
	var subs []submitted
	for range n {
		pt.mu.Lock()
		num := pt.next
		pt.next++
		pt.mu.Unlock()
		payload := pt.payload(num)
		d := Quorum
		if pt.intn(4) == 0 {
			d = LeaderOnly
		}
		pr, err := pt.part.Submit(context.Background(), BatchHeader{RecordCount: uint32(1 + pt.intn(3))},
			append(NewBatch(len(payload)), payload...), SubmitOptions{Durability: d})
		if err != nil {
			pt.fatalf("Submit: %v", err)
		}
		subs = append(subs, submitted{payload, pr})
	}
	for _, s := range subs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		off, err := s.pr.Wait(ctx)
		cancel()
		if err != nil {
			pt.fatalf("proposal: %v", err)
		}
		pt.mu.Lock()
		pt.acks = append(pt.acks, ack{s.payload, off})
		pt.mu.Unlock()
	}
}

// recoverImage opens a crash image as a data directory and checks it;
// with adopt, the test goes on from a second copy of it.
func (pt *partitionPowerTest) recoverImage(c partitionCrash, adopt bool) {
	pt.crashes++
	pt.mu.Lock()
	acks := append([]ack(nil), pt.acks[:c.acked]...)
	lineage := pt.lineage
	pt.mu.Unlock()
	running := pt.part
	pt.verifyImage(c, acks, lineage, running)
	if !adopt {
		return
	}
	dir := pt.newDir()
	crashfs.Write(pt.t, dir, c.img)
	st, stateOK, err := readState(filepath.Join(dir, powerPartition))
	if err != nil {
		pt.fatalf("crash at %q: the state file: %v", c.what, err)
	}
	pt.closeStore()
	pt.verifyQueued() // those taken before the cut, against this lineage
	pt.mu.Lock()
	// Crashes during this recovery must recover what the image must.
	pt.acks, pt.lineage = acks, c.proposed
	pt.mu.Unlock()
	pt.open(dir)
	present := pt.checkRecovered(pt.part, c, acks, lineage, st, stateOK, nil)
	// Read as committed: from now on as good as acknowledged. NB:
	// appended, so that the crashes queued meanwhile keep their prefix.
	pt.mu.Lock()
	had := map[string]bool{}
	for _, a := range pt.acks {
		had[a.payload] = true
	}
	for _, a := range present {
		if !had[a.payload] {
			pt.acks = append(pt.acks, a)
		}
	}
	pt.mu.Unlock()
}

// verifyImage opens c in a data directory of its own, checks it, proposes
// a record and closes it. Its retention is off: it must not move the log
// start while the check reads.
func (pt *partitionPowerTest) verifyImage(c partitionCrash, acks []ack, lineage int, running *Partition) {
	dir := pt.newDir()
	crashfs.Write(pt.t, dir, c.img)
	// What the state file in the image says, before recovery rewrites it.
	st, stateOK, err := readState(filepath.Join(dir, powerPartition))
	if err != nil {
		pt.fatalf("crash at %q: the state file: %v", c.what, err)
	}
	cfg := pt.scfg
	cfg.Dir = dir
	s, err := Open(cfg)
	if err != nil {
		pt.fatalf("crash at %q: Open: %v", c.what, err)
	}
	pc := pt.pcfg
	pc.RetentionBytes = 0
	p, err := s.OpenPartition(powerPartition, pc)
	if err != nil {
		pt.fatalf("crash at %q: OpenPartition: %v", c.what, err)
	}
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		pt.fatalf("crash at %q: the recovered partition is not ready", c.what)
	}
	pt.checkRecovered(p, c, acks, lineage, st, stateOK, running)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = p.Propose(ctx, BatchHeader{RecordCount: 1}, []byte("after recovery"))
	cancel()
	if err != nil {
		pt.fatalf("crash at %q: proposal after recovery: %v", c.what, err)
	}
	if err := s.Close(); err != nil {
		pt.fatalf("crash at %q: Close: %v", c.what, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		pt.t.Fatal(err)
	}
}

// checkRecovered checks a partition recovered from c against what was
// known when c was taken, and returns the records it holds.
func (pt *partitionPowerTest) checkRecovered(p *Partition, c partitionCrash, acks []ack, lineage int,
	st persistentState, stateOK bool, running *Partition) []ack {
	pt.t.Helper()
	fail := func(format string, args ...any) {
		pt.t.Helper()
		pt.fatalf("crash at %q: %s", c.what, fmt.Sprintf(format, args...))
	}
	// A single voter commits its whole log once elected: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for p.commitIndex.Load() < p.log.LastIndex() {
		if time.Now().After(deadline) {
			fail("commit index %d stays behind the log's last index %d", p.commitIndex.Load(), p.log.LastIndex())
		}
		time.Sleep(time.Millisecond)
	}
	var start int64
	var present []ack
	var seen map[string]int64
	for done := false; !done; {
		start, present, seen, done = pt.readAll(p, st, stateOK, fail)
	}
	// The running partition's log start only grows, and the image's is
	// no further on: but its retention may have reached the disk and not
	// yet its memory.
	for running != nil && start > running.LogStartOffset() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if running != nil && start > running.LogStartOffset() {
		fail("log start %d, past the %d retention had reached", start, running.LogStartOffset())
	}
	known := map[string]int64{}
	for _, a := range acks {
		known[a.payload] = a.offset
		off, ok := seen[a.payload]
		switch {
		case !ok && a.offset >= start:
			fail("record %.20q acknowledged at offset %d is lost (log %d to %d)", a.payload, a.offset, start, p.HighWatermark())
		case ok && off != a.offset:
			fail("record %.20q acknowledged at offset %d is at %d", a.payload, a.offset, off)
		}
	}
	for payload, off := range seen {
		if _, ok := known[payload]; ok {
			continue
		}
		n, ok := recordNumber(payload)
		if !ok || n < lineage || n >= c.proposed || !strings.HasPrefix(payload, fmt.Sprintf("r%d/", pt.seed)) {
			fail("record %.20q at offset %d was never proposed (in this lineage, before the cut)", payload, off)
		}
	}
	if stateOK && st.hard.Commit > p.log.LastIndex() {
		fail("the state file's commit index %d is beyond the recovered log (last index %d)", st.hard.Commit, p.log.LastIndex())
	}
	if stateOK && st.hard.Vote != 0 && st.hard.Vote != 1 {
		fail("the state file has a vote for %d, which never stood", st.hard.Vote)
	}
	return present
}

// readAll reads p's committed log and checks its order and terms; done is
// false if retention moved the log start meanwhile (read again).
func (pt *partitionPowerTest) readAll(p *Partition, st persistentState, stateOK bool, fail func(string, ...any)) (
	start int64, present []ack, seen map[string]int64, done bool) {
	start = p.LogStartOffset()
	seen = map[string]int64{}
	for from := start; from < p.HighWatermark(); {
		batches, err := p.Read(from, 1<<20)
		if err != nil && p.LogStartOffset() > start {
			return start, nil, nil, false
		}
		if err != nil {
			fail("Read(%d): %v", from, err)
		}
		if len(batches) == 0 {
			fail("Read(%d) below the high watermark %d returned nothing", from, p.HighWatermark())
		}
		for _, b := range batches {
			payload := string(b.Payload)
			if b.BaseOffset < from {
				fail("offset %d after %d", b.BaseOffset, from)
			}
			if prev, dup := seen[payload]; dup {
				fail("record %.20q at offsets %d and %d", payload, prev, b.BaseOffset)
			}
			seen[payload] = b.BaseOffset
			// NB: raft appended it at b.Term, so it was at that term, which
			// must have been durable first (statefile.go).
			if !stateOK || b.Term > st.hard.Term {
				fail("record at offset %d of term %d, but the state file (found: %v) is at term %d",
					b.BaseOffset, b.Term, stateOK, st.hard.Term)
			}
			present = append(present, ack{payload, b.BaseOffset})
			from = b.BaseOffset + int64(b.Header.RecordCount)
		}
	}
	return start, present, seen, true
}

// TestGroupPowerLoss runs a three-replica group on an in-memory network in
// which only replica 1's disk is cut, the others continuing: leadership
// moves around (so that replica 1 votes, stands, leads and follows) while
// records are proposed, and at random points inside replica 1's
// operations its disk's image must open as a data directory (the broker
// starts) with a state file that is not behind anything replica 1 told
// its peers: its term not behind the term of any message raft sends only
// once the state is durable (append and vote responses; a leader's
// appends and heartbeats, its term durable before it could count its own
// vote), and every vote it granted there still at that term. Sometimes
// replica 1 restarts from an image, and at the end every replica holds
// every acknowledged record once at its offset, nothing never proposed.
//
// RUNNEL_POWERLOSS_SEED and RUNNEL_POWERLOSS_RUNS as for
// TestPartitionPowerLoss (default 10 runs).
func TestGroupPowerLoss(t *testing.T) {
	if prev := fsops.SetObserver(nil); prev != nil {
		t.Fatal("observer already set")
	}
	seed, runs := crashfs.Runs(t, 10)
	defer fsops.SetObserver(nil)
	points, elections := 0, 0
	start := time.Now()
	for r := range runs {
		gt := &groupPowerTest{t: t, seed: seed + uint64(r), root: crashfs.MemTempDir(t)}
		gt.run()
		points += gt.crashes
		elections += gt.grants
	}
	t.Logf("%d runs from seed %d, %d crash points of replica 1 recovered, %d votes it granted, in %v",
		runs, seed, points, elections, time.Since(start).Round(time.Millisecond))
}

// TestGroupSnapshotPowerLoss is TestGroupPowerLoss over a state machine
// partition that snapshots every 4 entries and keeps 2 before each, with
// one more operation: replica 1 is cut off from the network while the
// others commit past what their logs keep, so that it catches up from the
// leader's snapshot, its disk cut meanwhile (saving the snapshot,
// resetting its log). Besides TestGroupPowerLoss's checks, each image's
// state machine must hold each record once, only records proposed, and
// at the end every replica's state machine the same records in the same
// order, every acknowledged one among them.
func TestGroupSnapshotPowerLoss(t *testing.T) {
	if prev := fsops.SetObserver(nil); prev != nil {
		t.Fatal("observer already set")
	}
	seed, runs := crashfs.Runs(t, 8)
	defer fsops.SetObserver(nil)
	points, installs := 0, 0
	start := time.Now()
	for r := range runs {
		gt := &groupPowerTest{t: t, seed: seed + uint64(r), root: crashfs.MemTempDir(t), stateMachine: true}
		gt.run()
		points += gt.crashes
		installs += gt.installs
	}
	t.Logf("%d runs from seed %d, %d crash points of replica 1 recovered, %d snapshots it installed from the leader, in %v",
		runs, seed, points, installs, time.Since(start).Round(time.Millisecond))
	if installs == 0 {
		t.Fatal("replica 1 never installed a snapshot from the leader: the test tests nothing")
	}
}

// memNet delivers raft messages between the stores of one process.
type memNet struct {
	mu     sync.RWMutex // held (read) across a send, so that cutting a node waits for its sends
	stores map[uint64]*Store
	// cut: the node lost its power; what it still sends goes nowhere.
	cut map[uint64]bool
	// isolated: the node's network is down: what it sends and what is
	// sent to it goes nowhere.
	isolated map[uint64]bool
	// sent, if set, sees every message node 1 sends, before it goes.
	sent func(m raftpb.Message)
}

type memTransport struct {
	net *memNet
	id  uint64
}

func (t memTransport) Send(group string, msgs []raftpb.Message) {
	t.net.mu.RLock()
	defer t.net.mu.RUnlock()
	if t.net.cut[t.id] || t.net.isolated[t.id] {
		return
	}
	for _, m := range msgs {
		if t.net.isolated[m.To] {
			continue
		}
		if t.id == 1 && t.net.sent != nil {
			t.net.sent(m)
		}
		// NB: a copy, as a real transport's receiver gets.
		b, err := m.Marshal()
		if err != nil {
			panic(err)
		}
		var c raftpb.Message
		if err := c.Unmarshal(b); err != nil {
			panic(err)
		}
		if s := t.net.stores[m.To]; s != nil {
			s.Step(group, c)
		}
	}
}

// groupCrash is an image of replica 1's disk, and what it had told its
// peers before.
type groupCrash struct {
	img     crashfs.Image
	what    string
	term    uint64 // the highest term of a message sent once durable
	termBy  string
	granted map[uint64]uint64 // term: the candidate voted for
}

type groupPowerTest struct {
	t       *testing.T
	seed    uint64
	root    string
	dirs    int
	net     *memNet
	stores  [3]*Store
	parts   [3]*Partition
	fs      *crashfs.FS
	crashes int
	grants  int

	// stateMachine: the partition is a snapshotting state machine, each
	// replica's machines[i]; installs counts the snapshots replica 1
	// restored from its leader.
	stateMachine bool
	machines     [3]*listMachine
	installs     int
	// openRestores is replica 1's machine's restores when its
	// OpenPartition returned (from its own snapshot).
	openRestores int

	acked   map[string]int64
	unknown map[string]bool
	next    int

	mu      sync.Mutex // guards the fields below
	rng     *rand.Rand
	armed   bool
	term    uint64
	termBy  string
	granted map[uint64]uint64
	queued  []groupCrash
}

func (gt *groupPowerTest) fatalf(format string, args ...any) {
	gt.t.Helper()
	gt.t.Fatalf("seed %d (RUNNEL_POWERLOSS_SEED=%d to replay): %s", gt.seed, gt.seed, fmt.Sprintf(format, args...))
}

func (gt *groupPowerTest) intn(n int) int {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	return gt.rng.IntN(n)
}

func (gt *groupPowerTest) newDir() string {
	gt.dirs++
	return filepath.Join(gt.root, strconv.Itoa(gt.dirs))
}

func (gt *groupPowerTest) storeConfig(id uint64, dir string, tr Transport) Config {
	return Config{
		Dir:                    dir,
		NodeID:                 id,
		TickInterval:           2 * time.Millisecond,
		ElectionTicks:          10,
		RetentionCheckInterval: 5 * time.Millisecond,
		ProposalTimeout:        2 * time.Second,
		Transport:              tr,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

var groupPartitionConfig = PartitionConfig{SegmentBytes: 4096, Voters: []uint64{1, 2, 3}, Incarnation: "incarnation-1"}

func (gt *groupPowerTest) run() {
	gt.rng = rand.New(rand.NewPCG(gt.seed, gt.seed>>32|1))
	gt.acked, gt.unknown, gt.granted = map[string]int64{}, map[string]bool{}, map[uint64]uint64{}
	gt.net = &memNet{stores: map[uint64]*Store{}, cut: map[uint64]bool{}, isolated: map[uint64]bool{}, sent: gt.sent}
	for i := range 3 {
		dir := gt.newDir()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			gt.t.Fatal(err)
		}
		if i == 0 {
			gt.fs = crashfs.New(gt.t, dir)
			gt.fs.Point = gt.maybeCrash
			fsops.SetObserver(gt.fs)
			gt.mu.Lock()
			gt.armed = true
			gt.mu.Unlock()
		}
		gt.startReplica(i, dir, i == 0)
	}
	for _, p := range gt.parts {
		gt.waitReady(p)
	}
	for range 40 {
		gt.step()
		gt.verifyQueued()
	}
	gt.checkGroup()
	gt.countInstalls()
	gt.mu.Lock()
	gt.armed = false
	gt.mu.Unlock()
	for i := range 3 {
		if err := gt.stores[i].Close(); err != nil {
			gt.fatalf("Close %d: %v", i+1, err)
		}
	}
	gt.verifyQueued()
	fsops.SetObserver(nil)
}

func (gt *groupPowerTest) startReplica(i int, dir string, campaign bool) {
	id := uint64(i + 1)
	s, err := Open(gt.storeConfig(id, dir, memTransport{gt.net, id}))
	if err != nil {
		gt.fatalf("Open replica %d: %v", id, err)
	}
	pc := gt.partitionConfig(i)
	pc.Campaign = campaign
	p, err := s.OpenPartition(powerPartition, pc)
	if err != nil {
		gt.fatalf("OpenPartition on replica %d: %v", id, err)
	}
	if gt.stateMachine && i == 0 {
		gt.openRestores = gt.machines[0].restoreCount()
	}
	gt.stores[i], gt.parts[i] = s, p
	gt.net.mu.Lock()
	gt.net.stores[id] = s
	gt.net.mu.Unlock()
}

// partitionConfig is replica i's partition's, with a new state machine
// when the test has one.
func (gt *groupPowerTest) partitionConfig(i int) PartitionConfig {
	pc := groupPartitionConfig
	if !gt.stateMachine {
		return pc
	}
	pc.SnapshotEntries, pc.SnapshotCatchUpEntries = 4, 2
	gt.machines[i] = &listMachine{}
	return gt.machines[i].config(pc)
}

// countInstalls adds the snapshots replica 1's running machine restored
// since it opened: its leader's.
func (gt *groupPowerTest) countInstalls() {
	if gt.stateMachine {
		gt.installs += gt.machines[0].restoreCount() - gt.openRestores
	}
}

func (gt *groupPowerTest) waitReady(p *Partition) {
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		gt.fatalf("partition not ready")
	}
}

// sent records what replica 1's messages commit it to.
func (gt *groupPowerTest) sent(m raftpb.Message) {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	switch m.Type {
	case raftpb.MsgVoteResp:
		if !m.Reject && m.To != 1 {
			if _, ok := gt.granted[m.Term]; !ok {
				gt.grants++
			}
			gt.granted[m.Term] = m.To
		}
	case raftpb.MsgAppResp, raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
	default:
		// NB: a pre-vote's term is not persisted, and a follower answers a
		// new leader's heartbeat before it saved the new term.
		return
	}
	if m.Term > gt.term {
		gt.termBy = fmt.Sprintf("%v to %d (index %d, reject %v, commit %d)", m.Type, m.To, m.Index, m.Reject, m.Commit)
	}
	gt.term = max(gt.term, m.Term)
}

// maybeCrash is the crash model's point for replica 1's disk.
func (gt *groupPowerTest) maybeCrash(what string) {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	if !gt.armed || gt.rng.IntN(3) != 0 {
		return
	}
	gt.queued = append(gt.queued, gt.crashLocked(what))
}

// crashLocked takes an image, with gt.mu held. NB: what replica 1 told
// is read first: it was durable before it was sent, so before the image.
func (gt *groupPowerTest) crashLocked(what string) groupCrash {
	c := groupCrash{what: what, term: gt.term, termBy: gt.termBy, granted: maps.Clone(gt.granted)}
	c.img = gt.fs.Image(gt.rng)
	return c
}

func (gt *groupPowerTest) verifyQueued() {
	gt.mu.Lock()
	q := gt.queued
	gt.queued = nil
	gt.mu.Unlock()
	for _, c := range q {
		gt.verifyImage(c)
	}
}

// verifyImage checks replica 1's state file in c, and that its partition
// opens (alone: its peers are elsewhere).
func (gt *groupPowerTest) verifyImage(c groupCrash) string {
	gt.crashes++
	dir := gt.newDir()
	crashfs.Write(gt.t, dir, c.img)
	st, ok, err := readState(filepath.Join(dir, powerPartition))
	if err != nil {
		gt.fatalf("crash at %q: the state file: %v", c.what, err)
	}
	switch {
	case !ok && c.term > 0:
		gt.fatalf("crash at %q: no state file, but replica 1 spoke at term %d", c.what, c.term)
	case st.hard.Term < c.term:
		gt.fatalf("crash at %q: the state file is at term %d, but replica 1 spoke at term %d (%s)", c.what, st.hard.Term, c.term, c.termBy)
	}
	if v, voted := c.granted[st.hard.Term]; voted && st.hard.Vote != v {
		gt.fatalf("crash at %q: replica 1 voted for %d at term %d, but the state file has its vote for %d",
			c.what, v, st.hard.Term, st.hard.Vote)
	}
	s, err := Open(gt.storeConfig(1, dir, nil))
	if err != nil {
		gt.fatalf("crash at %q: Open: %v", c.what, err)
	}
	m := &listMachine{}
	pc := groupPartitionConfig
	if gt.stateMachine {
		pc.SnapshotEntries, pc.SnapshotCatchUpEntries = 4, 2
		pc = m.config(pc)
	}
	if _, err := s.OpenPartition(powerPartition, pc); err != nil {
		gt.fatalf("crash at %q: OpenPartition: %v", c.what, err)
	}
	// NB: what it restored and replayed alone, as far as its saved
	// commit index: each record once, only records proposed.
	seen := map[string]bool{}
	for _, payload := range m.state() {
		if seen[payload] || !gt.proposed(payload) {
			gt.fatalf("crash at %q: the recovered state machine holds %.20q twice or never proposed", c.what, payload)
		}
		seen[payload] = true
	}
	if err := s.Close(); err != nil {
		gt.fatalf("crash at %q: Close: %v", c.what, err)
	}
	return dir
}

// leader is the replica that leads, -1 if none does now.
func (gt *groupPowerTest) leader() int {
	for i, p := range gt.parts {
		if p.Leader() == uint64(i+1) {
			return i
		}
	}
	return -1
}

// proposed reports whether payload is a record this test proposed.
func (gt *groupPowerTest) proposed(payload string) bool {
	name, _, _ := strings.Cut(payload, "|")
	n, err := strconv.Atoi(strings.TrimPrefix(name, fmt.Sprintf("g%d/", gt.seed)))
	return err == nil && strings.HasPrefix(name, fmt.Sprintf("g%d/", gt.seed)) && n < gt.next
}

// isolateAndPropose cuts replica 1 off the network while the others elect
// a leader and commit records past what their logs keep behind their
// snapshots, then lets it back, to catch up from the leader's snapshot.
func (gt *groupPowerTest) isolateAndPropose() {
	gt.net.mu.Lock()
	gt.net.isolated[1] = true
	gt.net.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for (gt.leader() < 1) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if gt.leader() >= 1 {
		for range 3 {
			gt.proposeSome(1 + gt.intn(6))
		}
	}
	gt.net.mu.Lock()
	gt.net.isolated[1] = false
	gt.net.mu.Unlock()
}

func (gt *groupPowerTest) step() {
	op := gt.intn(12)
	if gt.stateMachine && op == 11 {
		gt.isolateAndPropose()
		return
	}
	switch {
	case op < 7:
		gt.proposeSome(1 + gt.intn(6))
	case op < 10:
		if l := gt.leader(); l >= 0 {
			gt.parts[l].TransferLeadership(uint64(1 + gt.intn(3)))
			time.Sleep(time.Duration(gt.intn(30)) * time.Millisecond)
		}
	case op < 11:
		gt.restartFromImage()
	default:
		time.Sleep(time.Duration(gt.intn(20)) * time.Millisecond)
	}
}

// proposeSome submits n records on the leader and waits for them; a
// proposal refused before it was taken is dropped, one whose outcome is
// unknown is never proposed again.
func (gt *groupPowerTest) proposeSome(n int) {
	l := gt.leader()
	if l < 0 {
		time.Sleep(5 * time.Millisecond)
		return
	}
	type submitted struct {
		payload string
		pr      *Proposal
	}
	var subs []submitted
	for range n {
		payload := fmt.Sprintf("g%d/%d|%s", gt.seed, gt.next, strings.Repeat("x", gt.intn(600)))
		gt.next++
		pr, err := gt.parts[l].Submit(context.Background(), BatchHeader{RecordCount: 1},
			append(NewBatch(len(payload)), payload...), SubmitOptions{})
		if err != nil {
			continue // never taken
		}
		subs = append(subs, submitted{payload, pr})
	}
	for _, s := range subs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		off, err := s.pr.Wait(ctx)
		cancel()
		switch {
		case err == nil:
			gt.acked[s.payload] = off
		case errors.Is(err, ErrNotLeader):
		default:
			gt.unknown[s.payload] = true
		}
	}
}

// restartFromImage cuts replica 1's power now and starts it again from
// what its disk kept; the others go on.
func (gt *groupPowerTest) restartFromImage() {
	// NB: cut first, as a power cut would: nothing replica 1 sends after
	// the image may reach the others or count as told.
	gt.net.mu.Lock()
	delete(gt.net.stores, 1)
	gt.net.cut[1] = true
	gt.net.mu.Unlock()
	gt.mu.Lock()
	c := gt.crashLocked("between operations")
	gt.armed = false
	gt.mu.Unlock()
	if err := gt.stores[0].Close(); err != nil {
		gt.fatalf("Close replica 1: %v", err)
	}
	gt.countInstalls()
	gt.verifyQueued()
	dir := gt.verifyImage(c)
	// NB: the verified copy, as its recovery left it: what a restart of
	// replica 1 on its disk would also have done, and is itself durable.
	gt.fs = crashfs.New(gt.t, dir)
	gt.fs.Point = gt.maybeCrash
	fsops.SetObserver(gt.fs)
	gt.mu.Lock()
	gt.armed = true
	gt.mu.Unlock()
	gt.net.mu.Lock()
	gt.net.cut[1] = false
	gt.net.mu.Unlock()
	gt.startReplica(0, dir, false)
}

// checkGroup waits until every replica has committed every acknowledged
// record, and checks each one's log against the history.
func (gt *groupPowerTest) checkGroup() {
	for i, p := range gt.parts {
		deadline := time.Now().Add(10 * time.Second)
		for {
			seen := map[string]int64{}
			for from := p.LogStartOffset(); from < p.HighWatermark(); {
				batches, err := p.Read(from, 1<<20)
				if err != nil {
					gt.fatalf("replica %d: Read(%d): %v", i+1, from, err)
				}
				for _, b := range batches {
					payload := string(b.Payload)
					off, acked := gt.acked[payload]
					switch prev, dup := seen[payload]; {
					case dup:
						gt.fatalf("replica %d: %.20q at offsets %d and %d", i+1, payload, prev, b.BaseOffset)
					case acked && off != b.BaseOffset:
						gt.fatalf("replica %d: %.20q acknowledged at offset %d is at %d", i+1, payload, off, b.BaseOffset)
					case !acked && !gt.unknown[payload]:
						gt.fatalf("replica %d: %.20q at offset %d was never proposed", i+1, payload, b.BaseOffset)
					}
					seen[payload] = b.BaseOffset
					from = b.BaseOffset + int64(b.Header.RecordCount)
				}
			}
			missing := ""
			for payload, off := range gt.acked {
				if _, ok := seen[payload]; !ok && off >= p.LogStartOffset() {
					missing = fmt.Sprintf("%.20q acknowledged at offset %d", payload, off)
					break
				}
			}
			if missing == "" && gt.stateMachine {
				missing = gt.checkMachine(i)
			}
			if missing == "" {
				break
			}
			if time.Now().After(deadline) {
				gt.fatalf("replica %d lacks %s (log %d to %d)", i+1, missing, p.LogStartOffset(), p.HighWatermark())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// checkMachine compares replica i's state machine with replica 1's (the
// first replica's with the third's): "" once they hold the same records
// in the same order, each once, every acknowledged one among them; else
// what is still missing.
func (gt *groupPowerTest) checkMachine(i int) string {
	other := gt.machines[0].state()
	if i == 0 {
		other = gt.machines[2].state()
	}
	got := gt.machines[i].state()
	if !slices.Equal(got, other) {
		return fmt.Sprintf("the state of %d records that the other replica's %d match", len(got), len(other))
	}
	seen := map[string]bool{}
	for _, payload := range got {
		if seen[payload] {
			gt.fatalf("replica %d's state machine holds %.20q twice", i+1, payload)
		}
		if _, acked := gt.acked[payload]; !acked && !gt.unknown[payload] {
			gt.fatalf("replica %d's state machine holds %.20q, never proposed", i+1, payload)
		}
		seen[payload] = true
	}
	for payload := range gt.acked {
		if !seen[payload] {
			return fmt.Sprintf("%.20q acknowledged in its state machine", payload)
		}
	}
	return ""
}
