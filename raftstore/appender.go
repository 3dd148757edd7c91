package raftstore

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// stateSaveInterval bounds how stale the persisted commit index may get
// (see statefile.go): the appender saves it at most this long after it
// moved, on its next append or tick.
const stateSaveInterval = time.Second

// maxAppendsPerSync bounds how many of raft's append messages one fsync
// covers.
const maxAppendsPerSync = 256

// appendLoop is the partition's append goroutine, raft's "local append
// thread": it takes MsgStorageAppend messages in order, writes their
// entries and hard state, makes them durable through the store's group
// commit, and only then hands their responses back to the raft loop. It
// is the log's only writer, so retention runs here too.
//
// NB: while one fsync runs, the raft loop goes on and queues the next
// appends; they are written and synced together next round, so the disk
// never idles behind the loop nor the loop behind the disk.
//
// A storage error, or a panic in the storage code, ends the appender: the
// raft loop learns of it and stops the partition (see run).
func (p *Partition) appendLoop() {
	defer close(p.appenderDone)
	if err := p.appendUntilClosed(); err != nil {
		p.appendFailed <- err
		// Keep taking (and dropping) appends so the loop never blocks
		// on us; nothing of them is acknowledged.
		for range p.appends {
		}
	}
}

// appendUntilClosed runs the appender until the raft loop closes appends
// (nil) or storage fails (its error).
func (p *Partition) appendUntilClosed() (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.logger.Error("the appender panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("the appender panicked: %v", r)
		}
	}()
	retention := time.NewTicker(p.store.cfg.RetentionCheckInterval)
	defer retention.Stop()

	a := &appenderState{saved: p.storage.currentState(), savedAt: time.Now()}
	for {
		var err error
		select {
		case m, ok := <-p.appends:
			if !ok {
				p.finalErr = p.saveState(a, true /* force */)
				if p.finalErr == nil && p.finalProducers != nil {
					p.finalErr = p.saveProducers(a, p.finalProducers)
				}
				return nil
			}
			batch := []raftpb.Message{m}
		drain:
			for len(batch) < maxAppendsPerSync {
				select {
				case m, ok := <-p.appends:
					if !ok {
						break drain
					}
					batch = append(batch, m)
				default:
					break drain
				}
			}
			err = p.persist(a, batch)
		case <-p.appendTicks:
			// An idle partition has no append to save its commit index with.
			err = p.saveState(a, false /* force */)
		case snap := <-p.snapshots:
			// A failed snapshot loses nothing: the log is kept.
			if serr := p.saveSnapshot(a, snap); serr != nil {
				p.logger.Warn("snapshot failed", "index", snap.Metadata.Index, "err", serr)
			}
		case st := <-p.producerSaves:
			// A failed save loses nothing: the log holds what it summarizes.
			if perr := p.saveProducers(a, st); perr != nil {
				p.logger.Warn("saving the producer state failed", "index", st.GetIndex(), "err", perr)
			}
		case <-retention.C:
			// A failed deletion loses nothing: log it and try again later.
			if rerr := p.applyRetention(a); rerr != nil {
				p.logger.Warn("retention failed", "err", rerr)
			}
		}
		if err != nil {
			return err
		}
	}
}

// appenderState is owned by the append goroutine.
type appenderState struct {
	saved   persistentState // what the state file holds
	savedAt time.Time
	// producersIndex is the index of the producer state the producers file
	// holds, as far as this appender wrote it.
	producersIndex uint64
}

// persist makes a run of append messages durable, then delivers their
// responses.
func (p *Partition) persist(a *appenderState, batch []raftpb.Message) error {
	mustSync := false
	for _, m := range batch {
		// NB: raft orders a snapshot before the entries that follow it.
		if m.Snapshot != nil && !raft.IsEmptySnap(*m.Snapshot) {
			if p.cfg.snapshots() {
				// NB: durable before the log is reset to start after
				// it, so that a crash leaves the state the log needs.
				if err := writeSnapshot(p.dir, *m.Snapshot); err != nil {
					return err
				}
				p.storage.setSnapshot(*m.Snapshot)
			}
			if err := p.saveSnapshotProducers(a, *m.Snapshot); err != nil {
				return err
			}
			if err := p.storage.installSnapshot(*m.Snapshot); err != nil {
				return err
			}
			mustSync = true
		}
		if len(m.Entries) > 0 {
			if err := p.storage.append(m.Entries); err != nil {
				return fmt.Errorf("append: %w", err)
			}
			mustSync = true
		}
		if hs := (raftpb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}); !raft.IsEmptyHardState(hs) {
			p.storage.setHard(hs)
		}
		mustSync = mustSync || len(m.Responses) > 0
	}
	if mustSync {
		if err := p.store.flusher.sync(p.log); err != nil {
			return fmt.Errorf("fsync: %w", err)
		}
	}
	// NB: after the log's fsync, so that a saved commit index never covers
	// entries that are not durable here (a follower learns commits ahead of
	// its own log); before the responses, so raft acts on a term or vote
	// only once it is durable.
	term := p.durableTerm.Load()
	if err := p.saveState(a, false /* force */); err != nil {
		return err
	}
	var responses []raftpb.Message
	for _, m := range batch {
		responses = append(responses, m.Responses...)
	}
	p.appended.put(responses)
	if p.durableTerm.Load() != term {
		// NB: even with no response to deliver, the loop holds messages
		// of the new term until it is saved (Partition.mustHold): wake it.
		p.appended.wake()
	}
	return nil
}

// saveState writes the state file when term, vote or voters changed (at
// once: raft may act on them only once durable), or when the commit
// index moved and the last save is older than stateSaveInterval (or force).
//
// The commit index saved is at most the applied one: a restarted data
// partition counts what the saved commit covers as applied, and must not
// skip configuration changes it never applied. NB: the applied index is
// read first: the loop records a configuration change before it moves
// the applied index past it, so the voters read next include every
// change up to it.
func (p *Partition) saveState(a *appenderState, force bool) error {
	applied := p.commitIndex.Load()
	st := p.storage.currentState()
	st.hard.Commit = min(st.hard.Commit, applied)
	termOrVote := st.hard.Term != a.saved.hard.Term || st.hard.Vote != a.saved.hard.Vote
	confChanged := st.conf.Equivalent(a.saved.conf) != nil
	commitMoved := st.hard.Commit != a.saved.hard.Commit
	due := commitMoved && (force || time.Since(a.savedAt) >= stateSaveInterval)
	if !termOrVote && !confChanged && !due {
		return nil
	}
	if err := writeState(p.dir, st); err != nil {
		return fmt.Errorf("save raft state: %w", err)
	}
	a.saved, a.savedAt = st, time.Now()
	p.durableTerm.Store(st.hard.Term)
	return nil
}

// responseQueue carries the appender's responses to the raft loop without
// ever blocking the appender: the loop takes everything queued when
// signalled.
type responseQueue struct {
	mu     sync.Mutex // guards queue
	queue  []raftpb.Message
	signal chan struct{} // capacity 1
}

func newResponseQueue() *responseQueue { return &responseQueue{signal: make(chan struct{}, 1)} }

func (q *responseQueue) put(msgs []raftpb.Message) {
	if len(msgs) == 0 {
		return
	}
	q.mu.Lock()
	q.queue = append(q.queue, msgs...)
	q.mu.Unlock()
	q.wake()
}

// wake signals the loop, which then takes what is queued (maybe nothing)
// and sends what it held.
func (q *responseQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *responseQueue) take() []raftpb.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	msgs := q.queue
	q.queue = nil
	return msgs
}
