package raftstore

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// stateSaveInterval bounds how stale the persisted commit index may get
// (see statefile.go): the loop saves it at most this long after it moved,
// on the next Ready or tick.
const stateSaveInterval = time.Second

// maxProposalsPerReady bounds how many queued proposals go into one Ready,
// so that one Ready (and one fsync) never grows without limit.
const maxProposalsPerReady = 256

// run is the partition's raft goroutine: the only one touching p.node.
func (p *Partition) run() {
	defer close(p.stopped)
	ticker := time.NewTicker(p.store.cfg.TickInterval)
	defer ticker.Stop()
	retention := time.NewTicker(p.store.cfg.RetentionCheckInterval)
	defer retention.Stop()

	l := &loopState{waiting: make(map[uint64]*proposal), savedAt: time.Now(), durable: p.log.LastIndex()}
	l.saved = p.storage.currentState()
	var err error
	for err == nil {
		// NB: drain Ready first: Campaign and Propose leave work before
		// the loop ever waits.
		for err == nil && p.node.HasReady() {
			err = p.handleReady(l, p.node.Ready())
		}
		if err != nil {
			break
		}
		select {
		case <-p.stop:
			p.shutdown(l)
			return
		case <-ticker.C:
			p.node.Tick()
			// An idle partition has no Ready to save its commit index in.
			err = p.saveState(l, raftpb.HardState{}, false /* force */)
		case <-retention.C:
			// A failed deletion loses nothing: log it and try again later.
			if rerr := p.applyRetention(l); rerr != nil {
				p.logger.Warn("retention failed", "err", rerr)
			}
		case prop := <-p.proposals:
			p.propose(l, prop)
		drain:
			for range maxProposalsPerReady - 1 {
				select {
				case prop := <-p.proposals:
					p.propose(l, prop)
				default:
					break drain
				}
			}
		}
	}
	// A storage error leaves the partition unusable: acking anything more
	// could lose data. Fail what is pending and wait for Close.
	p.logger.Error("partition stopped on storage error", "err", err)
	err = fmt.Errorf("partition %s stopped on a storage error: %w", p.name, err)
	p.failWaiting(l, err)
	p.closeErr, p.failErr = err, err
	close(p.failed)
	<-p.stop
	p.shutdown(l)
}

// loopState is owned by the loop goroutine.
type loopState struct {
	waiting map[uint64]*proposal // by proposal id, until applied
	saved   persistentState      // what the state file holds
	savedAt time.Time
	durable uint64 // the last raft index known to be fsync'd
}

func (p *Partition) propose(l *loopState, prop *proposal) {
	if err := p.node.Propose(prop.data); err != nil {
		if errors.Is(err, raft.ErrProposalDropped) {
			err = ErrNotLeader
		}
		prop.result <- proposalResult{err: err}
		return
	}
	l.waiting[prop.id] = prop
}

func (p *Partition) handleReady(l *loopState, rd raft.Ready) error {
	if rd.SoftState != nil {
		p.leader.Store(rd.SoftState.Lead)
		if rd.SoftState.RaftState != raft.StateLeader {
			// Entries proposed here may be replaced by the new leader's.
			p.failWaiting(l, ErrNotLeader)
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		return fmt.Errorf("snapshot at index %d: followers are not supported yet", rd.Snapshot.Metadata.Index)
	}
	if len(rd.Entries) > 0 {
		if err := p.storage.append(rd.Entries); err != nil {
			return fmt.Errorf("append: %w", err)
		}
		l.durable = min(l.durable, rd.Entries[0].Index-1)
	}
	if err := p.saveState(l, rd.HardState, false /* force */); err != nil {
		return err
	}
	// Committed entries that are already durable are applied before this
	// Ready's fsync, so that their acks do not wait for it. (A leader's
	// own entries commit only once stable, so under load this is all of
	// them: each ack waits for one fsync, not two.)
	committed := rd.CommittedEntries
	early := 0
	for early < len(committed) && committed[early].Index <= l.durable {
		early++
	}
	if err := p.applyCommitted(l, committed[:early]); err != nil {
		return err
	}
	if rd.MustSync || len(rd.Entries) > 0 {
		if err := p.store.flusher.sync(p.log); err != nil {
			return fmt.Errorf("fsync: %w", err)
		}
		l.durable = p.log.LastIndex()
	}
	if len(rd.Messages) > 0 {
		// NB: a single voter sends nothing; replication to peers is the
		// transport's job (issue "Replicated cluster").
		p.logger.Debug("dropping raft messages: no transport", "count", len(rd.Messages))
	}
	// NB: after the fsync: these may include this Ready's own entries.
	if err := p.applyCommitted(l, committed[early:]); err != nil {
		return err
	}
	p.node.Advance(rd)
	return nil
}

// applyCommitted applies committed entries in order: it moves the high
// watermark, feeds the state machine and completes waiting proposals.
func (p *Partition) applyCommitted(l *loopState, entries []raftpb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	var done []completion
	for _, e := range entries {
		switch e.Type {
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				return fmt.Errorf("entry %d: conf change: %w", e.Index, err)
			}
			if err := p.applyConfChange(l, cc); err != nil {
				return err
			}
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if err := cc.Unmarshal(e.Data); err != nil {
				return fmt.Errorf("entry %d: conf change: %w", e.Index, err)
			}
			if err := p.applyConfChange(l, cc); err != nil {
				return err
			}
		case raftpb.EntryNormal:
			if len(e.Data) == 0 {
				continue // a new leader's empty entry
			}
			c, err := p.applyBatch(l, e)
			if err != nil {
				return err
			}
			if c.prop != nil {
				done = append(done, c)
			}
		}
	}
	if err := p.setAppliedIndex(entries[len(entries)-1].Index); err != nil {
		return err
	}
	p.storage.appliedTo(entries[len(entries)-1].Index)
	p.changed.notify()
	p.checkReady(entries[len(entries)-1])
	// NB: acknowledge only after the high watermark moved, so that a
	// producer that reads right after its ack sees its records.
	for _, c := range done {
		c.prop.result <- c.result
	}
	return nil
}

// completion is the result of a proposal whose batch was applied.
type completion struct {
	prop   *proposal
	result proposalResult
}

func (p *Partition) applyBatch(l *loopState, e raftpb.Entry) (completion, error) {
	h, payload, err := segment.DecodeBatchHeader(e.Data)
	if err != nil {
		return completion{}, fmt.Errorf("entry %d: %w", e.Index, err)
	}
	base, _, err := p.log.EntryOffsets(e.Index)
	if err != nil {
		return completion{}, fmt.Errorf("entry %d: %w", e.Index, err)
	}
	var applyErr error
	if p.cfg.Apply != nil {
		applyErr = p.cfg.Apply(Batch{Index: e.Index, Term: e.Term, BaseOffset: base, Header: h, Payload: payload})
	}
	prop, ok := l.waiting[h.ProposalID]
	if !ok {
		return completion{}, nil
	}
	delete(l.waiting, h.ProposalID)
	return completion{prop: prop, result: proposalResult{baseOffset: base, err: applyErr}}, nil
}

func (p *Partition) applyConfChange(l *loopState, cc raftpb.ConfChangeI) error {
	cs := p.node.ApplyConfChange(cc)
	st := p.storage.currentState()
	st.conf = *cs
	p.storage.setState(st)
	// Configuration changes are rare: persist them at once.
	return p.saveState(l, raftpb.HardState{}, true /* force */)
}

// checkReady marks the partition ready once it leads (or follows a leader)
// and has applied an entry of the current term: everything committed
// before it opened is then applied.
func (p *Partition) checkReady(last raftpb.Entry) {
	if p.leader.Load() == 0 || last.Term != p.node.BasicStatus().Term {
		return
	}
	p.readyOnce.Do(func() { close(p.ready) })
}

// saveState persists hs when term or vote changed, or when the commit
// index moved and the last save is older than stateSaveInterval (or force).
func (p *Partition) saveState(l *loopState, hs raftpb.HardState, force bool) error {
	st := p.storage.currentState()
	if !raft.IsEmptyHardState(hs) {
		st.hard = hs
	}
	p.storage.setState(st)
	termOrVote := st.hard.Term != l.saved.hard.Term || st.hard.Vote != l.saved.hard.Vote
	confChanged := st.conf.Equivalent(l.saved.conf) != nil
	commitMoved := st.hard.Commit != l.saved.hard.Commit
	due := commitMoved && (force || time.Since(l.savedAt) >= stateSaveInterval)
	if !termOrVote && !confChanged && !due {
		return nil
	}
	if err := writeState(p.dir, st); err != nil {
		return fmt.Errorf("save raft state: %w", err)
	}
	l.saved, l.savedAt = st, time.Now()
	return nil
}

func (p *Partition) failWaiting(l *loopState, err error) {
	for id, prop := range l.waiting {
		prop.result <- proposalResult{err: err}
		delete(l.waiting, id)
	}
}

// shutdown runs on the loop goroutine when the partition closes.
func (p *Partition) shutdown(l *loopState) {
	p.failWaiting(l, ErrClosed)
	var errs []error
	if p.closeErr == nil {
		if err := p.saveState(l, raftpb.HardState{}, true /* force */); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.log.Close(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 && p.closeErr == nil {
		p.closeErr = errors.Join(errs...)
	}
}
