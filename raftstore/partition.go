package raftstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	raftstorev1 "github.com/runnel-broker/runnel/gen/runnel/raftstore/v1"
	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
	"github.com/runnel-broker/runnel/raftstore/internal/producers"
	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// Batch is one stored entry that carries records, as readers and state
// machines see it.
type Batch = segment.Batch

// BatchHeader is the part of a batch that the store reads: record count,
// timestamps and the proposal id.
type BatchHeader = segment.BatchHeader

// PartitionConfig configures one partition.
type PartitionConfig struct {
	// SegmentBytes rolls the active segment at this size (default 1 GiB).
	SegmentBytes int64
	// SegmentMaxAge rolls the active segment once it is this old, so that
	// time retention can delete it (0: never).
	SegmentMaxAge time.Duration
	// RetentionTime deletes segments whose newest record is older than
	// this (0: keep forever).
	RetentionTime time.Duration
	// RetentionBytes deletes the oldest segments while the log would stay
	// at least this big without them (0: no limit).
	RetentionBytes int64
	// Voters are the raft ids of the replicas when the partition is
	// created (default: this node alone). Ignored when it already exists.
	// The group's first entries record them as configuration changes, so
	// that a replica added later learns them from the log.
	Voters []uint64
	// Join creates the partition as a replica being added to a running
	// group (see ChangeConf): with an empty log and no voters, it never
	// campaigns, and learns the group's configuration from the leader's
	// log or snapshot. Ignored when the partition already exists.
	Join bool
	// Rejoin creates the partition as a replica the group already counts
	// but whose log was lost (its broker's data directory was wiped): it
	// opens empty as with Join, and until it has caught up with the
	// leader's commit (Ready) it neither votes nor stands for election.
	// Having forgotten what it acknowledged, and its votes, its vote could
	// otherwise elect a replica that lacks acknowledged records. A marker
	// file keeps it so across restarts until it has caught up. Ignored
	// when the partition already exists.
	Rejoin bool
	// Campaign makes this replica stand for election as soon as the
	// partition is created here, rather than after an election timeout:
	// the placement's preferred leader, so that leaders spread as planned.
	// A single voter always does.
	Campaign bool
	// Incarnation names this life of the partition (the broker passes the
	// topic id). A directory left by another incarnation — a topic deleted
	// and created again under the same name, with a crash in between — is
	// emptied on open rather than taken for this one. Empty: no check.
	Incarnation string
	// ForwardProposals lets a follower hand a proposal to the leader
	// through raft, where it completes once this replica applies it. Off,
	// a proposal made on a follower fails at once with ErrNotLeader, and
	// the leader accepts no proposal from a peer. Keep it off where order
	// matters across requests: a forwarded proposal still on its way when
	// the leader changes races the requests that follow it to the new
	// leader, and may land after them. The internal topics, whose every
	// write waits for the one before, turn it on.
	ForwardProposals bool
	// Apply, when set, makes the partition a replicated state machine (the
	// internal topics): it is called on the raft goroutine with every
	// committed batch in log order, from the log start when the partition
	// opens. An error it returns is the result of that batch's proposal;
	// it must be deterministic.
	Apply func(Batch) error
	// Snapshot and Restore, when both set with Apply, let the partition
	// snapshot its state machine so that raft can delete the log before
	// the snapshot (see snapshot.go): a restart then restores the latest
	// snapshot and applies only the entries after it, and a follower that
	// needs deleted entries gets the snapshot. Snapshot returns the state
	// as of the last batch applied: it is called on the raft goroutine,
	// right after an Apply. Restore replaces the state with one Snapshot
	// returned, on this replica or another: on open (before any Apply) and
	// on the raft goroutine when a snapshot from the leader is installed.
	// Applying the batches after a snapshot to its restored state must
	// build the state applying the whole log builds. The state is bounded
	// by MaxSnapshotBytes: a larger one is not snapshotted, and the log
	// is kept.
	Snapshot func() ([]byte, error)
	Restore  func([]byte) error
	// SnapshotEntries is how many entries are applied between snapshots
	// (default DefaultSnapshotEntries).
	SnapshotEntries uint64
	// SnapshotBytes takes a snapshot sooner, once the entries applied since
	// the last one hold this many bytes (default DefaultSnapshotBytes), so
	// that large entries cannot make a long replay within SnapshotEntries.
	SnapshotBytes uint64
	// SnapshotCatchUpEntries is how many entries before a snapshot's index
	// are kept, so that a follower a little behind gets entries rather
	// than the snapshot (default DefaultSnapshotCatchUpEntries).
	SnapshotCatchUpEntries uint64
	// ProducerExpiry is how long an idempotent producer may be idle before
	// a data partition forgets it (default DefaultProducerExpiry): its
	// batches after that are not recognized as retries of earlier ones.
	// Replicas count it from the leaders' clocks written in the log, so
	// every replica forgets the same producers, given the same expiry.
	ProducerExpiry time.Duration
}

// Partition is one partition: a raft group whose log is a segment store.
type Partition struct {
	name   string
	dir    string
	cfg    PartitionConfig
	store  *Store
	logger *slog.Logger

	log     *segment.Log
	storage *storage
	node    *raft.RawNode // owned by the loop goroutine

	proposals chan *proposal
	nextID    atomic.Uint64

	// From peers, through the Store (peers.go).
	inbound     chan raftpb.Message
	unreachable chan uint64
	// ticks and appendTicks carry the store's clock to the raft loop
	// and the appender (capacity 1: a busy one skips a tick).
	ticks, appendTicks chan struct{}
	transfers          chan uint64 // leadership transfer requests
	confChanges        chan raftpb.ConfChangeV2

	// The raft loop hands appends to the append goroutine and gets their
	// responses back once durable (appender.go).
	appends      chan raftpb.Message
	appended     *responseQueue
	appendFailed chan error // the appender's storage error, once
	appenderDone chan struct{}
	finalErr     error // the appender's last state save, read after appenderDone

	// The loop hands snapshots of its state machine to the appender to
	// save (snapshot.go); snapshotBusy is set by the loop when it hands
	// one over, cleared by the appender once done with it.
	snapshots    chan raftpb.Snapshot
	snapshotBusy atomic.Bool
	// restoredIndex is the index of the snapshot restored on open.
	restoredIndex uint64

	// A data partition's idempotent producers (producers.go), owned by
	// the loop, and the appender's queue of states to save.
	producers      *producers.Table[*proposal]
	producerSaves  chan *raftstorev1.ProducerState
	finalProducers *raftstorev1.ProducerState // the state to save on close, set before appends closes

	// Written by the loop, read by anyone.
	commitIndex   atomic.Uint64
	highWatermark atomic.Int64
	leadership    atomic.Pointer[Leadership]   // never nil once open
	leaderCurrent atomic.Bool                  // see LeadsCurrent
	followers     atomic.Pointer[followerView] // see InSync; nil unless leading
	changed       *notifier

	readyOnce sync.Once
	ready     chan struct{} // closed once the partition has a leader and has applied its log
	// rejoining: the replica lost its log and has not caught up yet (see
	// PartitionConfig.Rejoin); owned by the loop.
	rejoining bool

	closeOnce sync.Once
	stop      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the loop returns
	closeErr  error

	// durableTerm is the term the state file holds (set by the appender
	// once saved); held are the messages for peers the loop keeps until
	// their term is durable (owned by the loop). See Partition.send.
	durableTerm atomic.Uint64
	held        []raftpb.Message

	// failed is closed when the loop stopped on a storage error, failErr
	// (written before) says which: from then on every proposal fails.
	failed  chan struct{}
	failErr error
}

type proposal struct {
	data       []byte
	id         uint64
	durability Durability
	leaderTerm uint64              // SubmitOptions.LeaderTerm
	header     BatchHeader         // as written in data
	result     chan proposalResult // buffered: the loop never blocks on it
	proposed   time.Time           // set by the loop when it proposes
	deadline   time.Time           // proposed + ProposalTimeout
	index      uint64              // the raft index of its entry once appended here (0: not yet)
	// replaced: another entry overwrote its entry here. It may still be
	// committed (a leader that has it may win an election), until an
	// entry is applied at its index.
	replaced bool
}

// Durability says when a submitted batch counts as done.
type Durability int

const (
	// Quorum: once a quorum of replicas has it fsync'd (it is committed)
	// and this replica applied it. Nothing acknowledged is lost while a
	// quorum survives.
	Quorum Durability = iota
	// LeaderOnly: once the leader has it fsync'd, when this replica leads;
	// elsewhere as Quorum. Faster, but a batch acknowledged so is lost if
	// the leader is lost before a quorum has it.
	LeaderOnly
)

type proposalResult struct {
	baseOffset int64
	err        error
}

func openPartition(s *Store, name string, pc PartitionConfig) (*Partition, error) {
	dir := filepath.Join(s.cfg.Dir, name)
	logger := s.cfg.Logger.With("partition", name)
	if err := prepareDir(s, dir, pc.Incarnation, logger); err != nil {
		return nil, err
	}
	state, exists, err := readState(dir)
	if err != nil {
		return nil, err
	}
	log, err := segment.Open(dir, segment.Options{
		SegmentBytes:  pc.SegmentBytes,
		SegmentMaxAge: pc.SegmentMaxAge,
		Logger:        logger,
		Cache:         s.segments,
	})
	if err != nil {
		return nil, err
	}
	// NB: after a process crash the tail may sit in the page cache unsynced;
	// segment.Open syncs what it recovers, so everything in log is durable
	// before it counts as committed and is served.
	rejoining, err := fileExists(filepath.Join(dir, rejoiningFile))
	if err != nil {
		log.Close()
		return nil, err
	}
	if !exists && pc.Rejoin {
		// NB: durable before the state file, whose presence means the
		// partition exists.
		if err := WriteFile(dir, rejoiningFile, nil); err != nil {
			log.Close()
			return nil, err
		}
		rejoining = true
	}
	if !exists {
		if !pc.Join && !pc.Rejoin {
			voters := pc.Voters
			if len(voters) == 0 {
				voters = []uint64{s.cfg.NodeID}
			}
			if state, err = bootstrap(log, voters); err != nil {
				log.Close()
				return nil, err
			}
		}
		if err := writeState(dir, state); err != nil {
			log.Close()
			return nil, err
		}
	}
	// Entries before the log start were committed (only committed entries
	// are deleted), whatever a stale state file says.
	if first := log.FirstIndex(); state.hard.Commit < first-1 {
		state.hard.Commit = first - 1
	}
	// NB: the lazily saved commit index can only lag; it can exceed the
	// log only if the log lost synced entries, which recovery refuses.
	if state.hard.Commit > log.LastIndex() {
		log.Close()
		return nil, fmt.Errorf("commit index %d beyond last log index %d: %w",
			state.hard.Commit, log.LastIndex(), ErrCorrupt)
	}
	p := &Partition{
		name:        name,
		dir:         dir,
		cfg:         pc,
		store:       s,
		logger:      logger,
		log:         log,
		storage:     &storage{log: log, state: state, stateMachine: pc.Apply != nil},
		proposals:   make(chan *proposal, 256),
		inbound:     make(chan raftpb.Message, inboundQueueSize),
		unreachable: make(chan uint64, 16),
		ticks:       make(chan struct{}, 1),
		appendTicks: make(chan struct{}, 1),
		transfers:   make(chan uint64, 1),
		confChanges: make(chan raftpb.ConfChangeV2, 1),
		changed:     newNotifier(),
		ready:       make(chan struct{}),
		rejoining:   rejoining,
		stop:        make(chan struct{}),
		stopped:     make(chan struct{}),
		failed:      make(chan struct{}),

		appends:       make(chan raftpb.Message, maxAppendsPerSync),
		appended:      newResponseQueue(),
		appendFailed:  make(chan error, 1),
		appenderDone:  make(chan struct{}),
		snapshots:     make(chan raftpb.Snapshot, 1),
		producerSaves: make(chan *raftstorev1.ProducerState, 1),
	}
	p.nextID.Store(randomUint64())
	p.leadership.Store(&Leadership{Term: state.hard.Term})
	p.durableTerm.Store(state.hard.Term)

	// A plain data partition's state is its log: everything committed is
	// already "applied". A state machine restores its snapshot, if any,
	// and replays the log after it.
	applied := log.FirstIndex() - 1
	if pc.Apply == nil && state.hard.Commit > applied {
		applied = state.hard.Commit
	}
	if pc.Apply != nil {
		st := p.storage.currentState()
		restored, err := p.restoreSnapshot(&st)
		if err != nil {
			log.Close()
			return nil, err
		}
		p.storage.state = st
		p.restoredIndex = restored
		applied = max(applied, restored)
	}
	if err := p.setAppliedIndex(applied); err != nil {
		log.Close()
		return nil, err
	}
	if pc.Apply == nil {
		if err := p.openProducers(applied, !exists); err != nil {
			log.Close()
			return nil, err
		}
	}
	node, err := raft.NewRawNode(&raft.Config{
		ID:                        s.cfg.NodeID,
		ElectionTick:              s.cfg.ElectionTicks,
		HeartbeatTick:             1,
		Storage:                   p.storage,
		Applied:                   applied,
		MaxSizePerMsg:             4 << 20,
		MaxCommittedSizePerReady:  64 << 20,
		MaxUncommittedEntriesSize: uint64(s.cfg.MaxUncommittedBytes),
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		AsyncStorageWrites:        true,
		StepDownOnRemoval:         true,
		DisableProposalForwarding: !pc.ForwardProposals,
		Logger:                    raftLogger{logger},
	})
	if err != nil {
		log.Close()
		return nil, err
	}
	p.node = node
	soleVoter := len(state.conf.Voters) == 1 && state.conf.Voters[0] == s.cfg.NodeID
	// A single voter need not wait an election timeout, nor a new group's
	// preferred leader: the loop campaigns at once (see serve).
	campaign := !rejoining && (soleVoter || (!exists && pc.Campaign))
	go p.appendLoop()
	go p.run(campaign)
	return p, nil
}

// bootstrap starts a new group's log as raft's own Bootstrap does: one
// committed configuration change per voter at term 1. Every replica of a
// new group writes the same entries, and a replica added later replays
// them (see PartitionConfig.Join).
func bootstrap(log *segment.Log, voters []uint64) (persistentState, error) {
	var st persistentState
	entries := make([]raftpb.Entry, len(voters))
	for i, id := range voters {
		cc := raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: id}
		data, err := cc.Marshal()
		if err != nil {
			return st, err
		}
		entries[i] = raftpb.Entry{Type: raftpb.EntryConfChange, Term: 1, Index: uint64(i + 1), Data: data}
		st.conf.Voters = append(st.conf.Voters, id)
	}
	if err := log.Append(entries); err != nil {
		return st, fmt.Errorf("bootstrap: %w", err)
	}
	if err := log.Sync(); err != nil {
		return st, fmt.Errorf("bootstrap: %w", err)
	}
	st.hard = raftpb.HardState{Term: 1, Commit: uint64(len(entries))}
	st.confIndex = uint64(len(entries))
	return st, nil
}

// tick hands the store's tick to the raft loop and the appender, never
// blocking: one still busy with the last tick skips this one.
func (p *Partition) tick() {
	for _, c := range []chan struct{}{p.ticks, p.appendTicks} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// incarnationFile holds PartitionConfig.Incarnation.
const incarnationFile = "incarnation"

// rejoiningFile marks a replica rejoining with a lost log that has not
// caught up yet (PartitionConfig.Rejoin).
const rejoiningFile = "rejoining"

// prepareDir makes sure dir exists and belongs to this incarnation of the
// partition, emptying it if it belongs to another.
func prepareDir(s *Store, dir, incarnation string, logger *slog.Logger) error {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		if err := fsops.MkdirAll(dir); err != nil {
			return err
		}
		// NB: the new directory's entry in the data dir must be durable
		// before anything acknowledged lives in it.
		if err := fsops.SyncDir(s.cfg.Dir); err != nil {
			return err
		}
	}
	if incarnation == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, incarnationFile))
	switch {
	case err == nil && string(b) == incarnation:
		return nil
	case err == nil:
		logger.Warn("emptying a partition directory left by an earlier incarnation",
			"found", string(b), "want", incarnation)
		if err := s.removeDir(dir); err != nil {
			return err
		}
		if err := fsops.MkdirAll(dir); err != nil {
			return err
		}
		if err := fsops.SyncDir(s.cfg.Dir); err != nil {
			return err
		}
	case !os.IsNotExist(err):
		return err
	}
	return WriteFile(dir, incarnationFile, []byte(incarnation))
}

// setAppliedIndex moves the commit index and high watermark to index.
func (p *Partition) setAppliedIndex(index uint64) error {
	hw := p.log.StartOffset()
	if index >= p.log.FirstIndex() {
		base, count, err := p.log.EntryOffsets(index)
		if err != nil {
			return err
		}
		hw = base + int64(count)
	}
	p.commitIndex.Store(index)
	p.highWatermark.Store(hw)
	return nil
}

// Name returns the partition's directory name.
func (p *Partition) Name() string { return p.name }

// AttributeCodecMask selects a batch's compression codec in
// BatchHeader.Attributes (compression's numbers).
const AttributeCodecMask = segment.AttributeCodecMask

// BatchHeaderSize is the size of the header that starts every batch.
const BatchHeaderSize = segment.BatchHeaderSize

// NewBatch returns an empty batch with room for payloadSize bytes: its
// first BatchHeaderSize bytes are reserved for the header, which Submit
// fills in. Append the payload to it.
func NewBatch(payloadSize int) []byte {
	return make([]byte, segment.BatchHeaderSize, segment.BatchHeaderSize+payloadSize)
}

// SubmitOptions say how a submitted batch is appended.
type SubmitOptions struct {
	// Durability is when the batch counts as done.
	Durability Durability
	// LeaderTerm, if set, fences the batch: only this replica leading in
	// that term appends it, else it fails ErrNotLeader. Raft has at most
	// one leader per term, so a batch sent to the leader of term T
	// cannot be appended after a later leader's entries: by a leader that
	// lost and regained leadership while the batch was on its way, say.
	LeaderTerm uint64
}

// Submit hands a batch made with NewBatch to raft and returns without
// waiting for it to commit. Batches submitted one after another by one
// goroutine get increasing offsets in that order. The payload is opaque to
// the store; h.ProposalID is set here. batch is the raft entry's data
// as is: the caller must not touch it again. A batch over MaxEntryBytes
// is ErrEntryTooLarge.
//
// A batch whose header names an idempotent producer (ProducerID) is
// checked against the producer's last batches before it is proposed: a
// retry of one the partition holds completes with its original base
// offset and is not appended again; one out of sequence fails
// ErrOutOfOrderSequence, one of an old epoch ErrProducerFenced (see
// producers.go).
func (p *Partition) Submit(ctx context.Context, h BatchHeader, batch []byte, opts SubmitOptions) (*Proposal, error) {
	if len(batch) < segment.BatchHeaderSize {
		return nil, fmt.Errorf("raftstore: batch of %d bytes has no room for its header", len(batch))
	}
	if len(batch) > MaxEntryBytes {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrEntryTooLarge, len(batch), MaxEntryBytes)
	}
	h.ProposalID = p.nextID.Add(1)
	if h.AppendTime == 0 {
		h.AppendTime = time.Now().UnixMilli()
	}
	segment.PutBatchHeader(batch, h)
	prop := &proposal{
		header:     h,
		data:       batch,
		id:         h.ProposalID,
		durability: opts.Durability,
		leaderTerm: opts.LeaderTerm,
		result:     make(chan proposalResult, 1),
	}
	select {
	case <-p.failed:
		return nil, p.failErr
	default:
	}
	select {
	case p.proposals <- prop:
		return &Proposal{partition: p, prop: prop}, nil
	case <-p.failed:
		return nil, p.failErr
	case <-p.stop:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Propose submits a batch with this payload and waits for it: see Submit
// and Proposal.Wait.
func (p *Partition) Propose(ctx context.Context, h BatchHeader, payload []byte) (int64, error) {
	pr, err := p.Submit(ctx, h, append(NewBatch(len(payload)), payload...), SubmitOptions{})
	if err != nil {
		return 0, err
	}
	return pr.Wait(ctx)
}

// Proposal is a submitted batch.
type Proposal struct {
	partition *Partition
	prop      *proposal
}

// Wait returns the batch's base offset once it is as durable as its
// Durability asks (and applied, for a state machine partition). If ctx
// ends first, the batch may still be appended.
func (pr *Proposal) Wait(ctx context.Context) (int64, error) {
	select {
	case r := <-pr.prop.result:
		return r.baseOffset, r.err
	case <-pr.partition.stopped:
		// NB: the loop completes every proposal it took before stopping;
		// prefer that result to ErrClosed.
		select {
		case r := <-pr.prop.result:
			return r.baseOffset, r.err
		default:
			return 0, ErrClosed
		}
	case <-pr.partition.failed:
		// The loop stopped on a storage error: a proposal it had not
		// taken yet never will be.
		select {
		case r := <-pr.prop.result:
			return r.baseOffset, r.err
		default:
			return 0, pr.partition.failErr
		}
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Read returns committed batches from offset on (see segment.Log.Read):
// nothing when offset is the high watermark, ErrOffsetOutOfRange when it
// lies outside [LogStartOffset, HighWatermark].
func (p *Partition) Read(offset int64, maxBytes int) ([]Batch, error) {
	if p.isClosed() {
		return nil, ErrClosed
	}
	if offset > p.HighWatermark() {
		return nil, fmt.Errorf("offset %d is past the high watermark %d: %w",
			offset, p.HighWatermark(), ErrOffsetOutOfRange)
	}
	batches, err := p.log.Read(offset, p.commitIndex.Load(), maxBytes)
	return batches, closedAs(err)
}

// ReadFunc is Read without copies: fn gets the batches with payloads that
// alias the segments' mappings, valid only until it returns (see
// segment.Log.ReadFunc).
func (p *Partition) ReadFunc(offset int64, maxBytes int, fn func([]Batch) error) error {
	if p.isClosed() {
		return ErrClosed
	}
	if offset > p.HighWatermark() {
		return fmt.Errorf("offset %d is past the high watermark %d: %w",
			offset, p.HighWatermark(), ErrOffsetOutOfRange)
	}
	return closedAs(p.log.ReadFunc(offset, p.commitIndex.Load(), maxBytes, fn))
}

// OffsetForTime returns the first committed offset of a batch whose newest
// record is at or after ts, or the high watermark if there is none.
func (p *Partition) OffsetForTime(ts time.Time) (int64, error) {
	if p.isClosed() {
		return 0, ErrClosed
	}
	hw := p.HighWatermark()
	o, err := p.log.OffsetForTime(ts.UnixMilli(), p.commitIndex.Load())
	// NB: the log answers its next offset when no batch qualifies, which
	// counts appended entries not yet committed.
	return min(o, hw), closedAs(err)
}

// HighWatermark is the offset the next committed record will get.
func (p *Partition) HighWatermark() int64 { return p.highWatermark.Load() }

// LogStartOffset is the first offset retention kept.
func (p *Partition) LogStartOffset() int64 { return p.log.StartOffset() }

// Size is the bytes stored in the partition's segments.
func (p *Partition) Size() int64 { return p.log.Size() }

// Err returns the error the partition stopped on (ErrFailed, wrapping
// what failed), nil while it runs.
func (p *Partition) Err() error {
	select {
	case <-p.failed:
		return p.failErr
	default:
		return nil
	}
}

// LeadsCurrent reports whether this replica leads the group and has
// applied an entry of its own term: its high watermark is then the
// group's. A leader just elected may lag offsets the last one
// acknowledged until then.
func (p *Partition) LeadsCurrent() bool { return p.leaderCurrent.Load() }

// Leadership is who leads a partition's group and in which term, as a
// replica knows it. Raft elects at most one leader per term, so the pair
// names one reign: a request fenced by it (SubmitOptions.LeaderTerm) is
// appended by that reign or not at all.
type Leadership struct {
	Leader uint64 // raft id; 0 when no leader is known
	Term   uint64 // the replica's current term, the leader's when Leader is set
}

// Leadership returns who leads the group as this replica knows it.
func (p *Partition) Leadership() Leadership { return *p.leadership.Load() }

// Leader is the raft id of the partition's leader, 0 when there is none.
func (p *Partition) Leader() uint64 { return p.Leadership().Leader }

// Changed returns a channel closed the next time the high watermark moves
// or the partition closes.
//
// NB: to wait without missing a wake-up, take the channel first, then
// check HighWatermark, then wait.
func (p *Partition) Changed() <-chan struct{} { return p.changed.wait() }

// Ready returns a channel closed once the partition has a leader and has
// applied every entry committed before it opened: a state machine is then
// up to date.
func (p *Partition) Ready() <-chan struct{} { return p.ready }

// Close stops the raft goroutine, persists the state and closes the log.
// Pending proposals fail with ErrClosed.
func (p *Partition) Close() error {
	first := false
	p.closeOnce.Do(func() {
		first = true
		close(p.stop)
		<-p.stopped
		p.changed.notify()
	})
	if !first {
		return ErrClosed
	}
	return p.closeErr
}

func (p *Partition) isClosed() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

func randomUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}
