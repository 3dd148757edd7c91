package raftstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/raftstore/internal/crashfs"
	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// TestSnapshotPowerLoss runs a single-replica state machine partition that
// snapshots every few entries (so that the snapshot file is replaced and
// the log before it deleted all the time) through pipelined proposals,
// clean restarts and idle spells, and cuts the power at random points,
// inside operations at every sync, creation, removal and rename (package
// crashfs), from the partition's creation on. Each crash image must open
// (restoring its snapshot and applying the log after it), and its state
// machine's state must be that of a prefix of the proposals that includes
// every acknowledged one; it must then take a proposal. Some images are
// adopted as the partition's disk, so that restores are cut too.
//
// The state is the list of records applied, in order: a prefix of the
// proposals in the order they were submitted (one proposer, one replica).
//
// RUNNEL_POWERLOSS_SEED and RUNNEL_POWERLOSS_RUNS as for
// TestPartitionPowerLoss.
func TestSnapshotPowerLoss(t *testing.T) {
	if prev := fsops.SetObserver(nil); prev != nil {
		t.Fatal("observer already set")
	}
	seed, runs := crashfs.Runs(t, 12)
	defer fsops.SetObserver(nil)
	points, restored := 0, 0
	start := time.Now()
	for r := range runs {
		st := &snapPowerTest{t: t, seed: seed + uint64(r), root: crashfs.MemTempDir(t)}
		st.run()
		points += st.crashes
		restored += st.restored
	}
	t.Logf("%d runs from seed %d, %d crash points recovered (%d from a snapshot) in %v",
		runs, seed, points, restored, time.Since(start).Round(time.Millisecond))
	if restored == 0 {
		t.Fatal("no crash image held a snapshot: the test tests nothing")
	}
}

// listMachine is a state machine whose state is the payloads it applied.
type listMachine struct {
	mu       sync.Mutex
	list     []string
	restores int
}

func (m *listMachine) restoreCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.restores
}

func (m *listMachine) config(pc PartitionConfig) PartitionConfig {
	pc.Apply = func(b Batch) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.list = append(m.list, string(b.Payload))
		return nil
	}
	pc.Snapshot = func() ([]byte, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return json.Marshal(m.list)
	}
	pc.Restore = func(b []byte) error {
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.list = list
		m.restores++
		return nil
	}
	return pc
}

func (m *listMachine) state() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.list)
}

// snapCrash is a crash image and what was known when it was taken: the
// first acked proposals of the lineage were acknowledged, the first
// proposed submitted.
type snapCrash struct {
	img             crashfs.Image
	what            string
	acked, proposed int
}

type snapPowerTest struct {
	t       *testing.T
	seed    uint64
	root    string
	dirs    int
	scfg    Config
	pcfg    PartitionConfig
	fs      *crashfs.FS
	store   *Store
	part    *Partition
	machine *listMachine
	crashes int
	// restored counts the images recovered from a snapshot.
	restored int
	next     int // the number of the next record, unique across lineages

	mu  sync.Mutex // guards the fields below: crash points come from the partition's goroutines
	rng *rand.Rand
	// armed: crash points inside operations are taken.
	armed bool
	// seq is this lineage's proposals in submission order: the state
	// the image it started from recovered, then what was submitted
	// since; seq[:acked] are acknowledged.
	seq    []string
	acked  int
	queued []snapCrash
}

func (st *snapPowerTest) fatalf(format string, args ...any) {
	st.t.Helper()
	st.t.Fatalf("seed %d (RUNNEL_POWERLOSS_SEED=%d to replay): %s", st.seed, st.seed, fmt.Sprintf(format, args...))
}

func (st *snapPowerTest) intn(n int) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.rng.IntN(n)
}

func (st *snapPowerTest) newDir() string {
	st.dirs++
	return filepath.Join(st.root, strconv.Itoa(st.dirs))
}

func (st *snapPowerTest) run() {
	st.rng = rand.New(rand.NewPCG(st.seed, st.seed>>32|1))
	st.scfg = Config{
		TickInterval:           2 * time.Millisecond,
		RetentionCheckInterval: 5 * time.Millisecond,
		ProposalTimeout:        5 * time.Second,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	st.pcfg = PartitionConfig{
		SegmentBytes:           int64(1024 + st.rng.IntN(4)*2048),
		SnapshotEntries:        uint64(2 + st.rng.IntN(8)),
		SnapshotCatchUpEntries: uint64(1 + st.rng.IntN(4)),
	}
	dir := st.newDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		st.t.Fatal(err)
	}
	st.open(dir)
	for range 25 {
		st.step()
		st.verifyQueued()
		if st.intn(3) == 0 {
			st.crashNow("between operations", st.intn(5) == 0)
		}
	}
	// The snapshots did delete the log before them.
	waitFor(st.t, func() bool { return st.part.log.FirstIndex() > 1 })
	st.closeStore()
	st.verifyQueued()
	fsops.SetObserver(nil)
}

func (st *snapPowerTest) open(dir string) {
	st.fs = crashfs.New(st.t, dir)
	st.fs.Point = st.maybeCrash
	fsops.SetObserver(st.fs)
	st.mu.Lock()
	st.armed = true
	st.mu.Unlock()
	st.openStore()
}

// openStore opens the running store with a new state machine, which must
// come back with a state of this lineage.
func (st *snapPowerTest) openStore() {
	cfg := st.scfg
	cfg.Dir = st.fs.Root()
	s, err := Open(cfg)
	if err != nil {
		st.fatalf("Open %s: %v", cfg.Dir, err)
	}
	st.machine = &listMachine{}
	p, err := s.OpenPartition(powerPartition, st.machine.config(st.pcfg))
	if err != nil {
		st.fatalf("OpenPartition in %s: %v", cfg.Dir, err)
	}
	st.store, st.part = s, p
	st.waitApplied(p, "open", func(format string, args ...any) { st.fatalf(format, args...) })
	st.mu.Lock()
	acked, seq := st.acked, slices.Clone(st.seq)
	st.mu.Unlock()
	st.checkState(st.machine.state(), acked, seq, func(format string, args ...any) { st.fatalf("reopen: "+format, args...) })
}

func (st *snapPowerTest) closeStore() {
	if err := st.store.Close(); err != nil {
		st.fatalf("Close: %v", err)
	}
}

// waitApplied waits until p is ready and has applied its whole log (a
// single voter commits it all once elected).
func (st *snapPowerTest) waitApplied(p *Partition, what string, fail func(string, ...any)) {
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		fail("%s: the partition is not ready", what)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.commitIndex.Load() < p.log.LastIndex() {
		if time.Now().After(deadline) {
			fail("%s: applied index %d stays behind the log's last index %d", what, p.commitIndex.Load(), p.log.LastIndex())
		}
		time.Sleep(time.Millisecond)
	}
}

// checkState checks that state is a prefix of seq at least acked long.
func (st *snapPowerTest) checkState(state []string, acked int, seq []string, fail func(string, ...any)) {
	if len(state) < acked || len(state) > len(seq) || !slices.Equal(state, seq[:len(state)]) {
		fail("state of %d records %.200v is not a prefix of the %d proposed %.200v with the %d acknowledged",
			len(state), state, len(seq), seq, acked)
	}
}

func (st *snapPowerTest) maybeCrash(what string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.armed || st.rng.IntN(3) != 0 {
		return
	}
	// NB: what was acknowledged is read before the image: it was durable
	// before its acknowledgement, so before the image.
	c := snapCrash{what: what, acked: st.acked}
	c.img = st.fs.Image(st.rng)
	c.proposed = len(st.seq)
	st.queued = append(st.queued, c)
}

func (st *snapPowerTest) verifyQueued() {
	st.mu.Lock()
	q := st.queued
	st.queued = nil
	st.mu.Unlock()
	for _, c := range q {
		st.recoverImage(c, false)
	}
}

func (st *snapPowerTest) crashNow(what string, adopt bool) {
	st.mu.Lock()
	c := snapCrash{what: what, acked: st.acked}
	c.img = st.fs.Image(st.rng)
	c.proposed = len(st.seq)
	if adopt {
		st.armed = false
	}
	st.mu.Unlock()
	st.recoverImage(c, adopt)
}

// step runs one random operation.
func (st *snapPowerTest) step() {
	switch op := st.intn(14); {
	case op < 10:
		st.proposeSome(1 + st.intn(8))
	case op < 11:
		st.closeStore()
		st.openStore()
	default: // idle: ticks, lazy state saves, snapshots being written
		time.Sleep(time.Duration(st.intn(10)) * time.Millisecond)
	}
}

// proposeSome submits n batches at once and waits for them.
func (st *snapPowerTest) proposeSome(n int) {
	var prs []*Proposal
	for range n {
		payload := fmt.Sprintf("r%d/%d", st.seed, st.next)
		st.next++
		st.mu.Lock()
		st.seq = append(st.seq, payload)
		st.mu.Unlock()
		pr, err := st.part.Submit(context.Background(), BatchHeader{RecordCount: 1},
			append(NewBatch(len(payload)), payload...), SubmitOptions{})
		if err != nil {
			st.fatalf("Submit: %v", err)
		}
		prs = append(prs, pr)
	}
	for _, pr := range prs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := pr.Wait(ctx)
		cancel()
		if err != nil {
			st.fatalf("proposal: %v", err)
		}
		// NB: one replica applies in submission order, so acks come in it.
		st.mu.Lock()
		st.acked++
		st.mu.Unlock()
	}
}

// recoverImage opens a crash image in a data directory of its own and
// checks its state; with adopt, the test goes on from a copy of it.
func (st *snapPowerTest) recoverImage(c snapCrash, adopt bool) {
	st.crashes++
	st.mu.Lock()
	seq := slices.Clone(st.seq[:c.proposed])
	st.mu.Unlock()
	state := st.verifyImage(c, seq)
	if !adopt {
		return
	}
	dir := st.newDir()
	crashfs.Write(st.t, dir, c.img)
	st.closeStore()
	st.verifyQueued() // those taken before the cut, against this lineage
	st.mu.Lock()
	// The recovered state is all there is now: what it lacks was never
	// acknowledged and is gone.
	st.seq, st.acked = state, len(state)
	st.mu.Unlock()
	st.open(dir)
}

// verifyImage opens c, checks its state machine, proposes a record and
// checks it applied, and returns the recovered state.
func (st *snapPowerTest) verifyImage(c snapCrash, seq []string) []string {
	fail := func(format string, args ...any) {
		st.t.Helper()
		st.fatalf("crash at %q: %s", c.what, fmt.Sprintf(format, args...))
	}
	dir := st.newDir()
	crashfs.Write(st.t, dir, c.img)
	cfg := st.scfg
	cfg.Dir = dir
	s, err := Open(cfg)
	if err != nil {
		fail("Open: %v", err)
	}
	m := &listMachine{}
	p, err := s.OpenPartition(powerPartition, m.config(st.pcfg))
	if err != nil {
		fail("OpenPartition: %v", err)
	}
	st.waitApplied(p, "recovery", fail)
	if p.restoredIndex > 0 {
		st.restored++
	}
	state := m.state()
	st.checkState(state, c.acked, seq, fail)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = p.Propose(ctx, BatchHeader{RecordCount: 1}, []byte("after recovery"))
	cancel()
	if err != nil {
		fail("proposal after recovery: %v", err)
	}
	if got := m.state(); len(got) != len(state)+1 || got[len(state)] != "after recovery" {
		fail("after a proposal the state is %.200v, was %.200v", got, state)
	}
	if err := s.Close(); err != nil {
		fail("Close: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		st.t.Fatal(err)
	}
	return state
}
