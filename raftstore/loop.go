package raftstore

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// recampaignTicks is how often a replica that campaigned on open campaigns
// again while the group has no leader.
const recampaignTicks = 3

// maxProposalsPerReady bounds how many queued proposals go into one Ready.
const maxProposalsPerReady = 256

// run is the partition's raft goroutine: the only one touching p.node.
// Raft runs with AsyncStorageWrites: persisting is the appender's job
// (appender.go), so this loop never waits for a disk; it hands appends
// over, applies what raft says is committed, and steps the appender's
// responses back in.
//
// A replica that campaigned on open campaigns again every few ticks until
// the group has a leader: its first votes may have reached replicas that
// had not opened the group yet.
//
// A failure stops the partition, never the broker: a storage error, or a
// panic inside raft (which panics on what it finds impossible, such as a
// corrupt log), fails what is pending and every proposal after it; the
// loop then waits for Close. Acking anything more could lose data, and
// the other replicas elect a leader without this one.
func (p *Partition) run(campaigned bool) {
	defer close(p.stopped)
	l := p.newLoopState()
	if err := p.serve(l, campaigned); err != nil {
		p.logger.Error("partition stopped: this replica serves it no more until the broker restarts", "err", err)
		err = fmt.Errorf("%w: %s: %w", ErrFailed, p.name, err)
		// NB: no longer a leader anyone should be sent to.
		p.leadership.Store(&Leadership{Term: p.Leadership().Term})
		p.failWaiting(l, err)
		p.closeErr, p.failErr = err, err
		close(p.failed)
		<-p.stop
	}
	p.shutdown(l)
}

func (p *Partition) newLoopState() *loopState {
	l := &loopState{waiting: make(map[uint64]*proposal), byIndex: make(map[uint64]*proposal),
		followers: syncState{lastCaughtUp: map[uint64]time.Time{}}, lastIndex: p.log.LastIndex(), metrics: p.store.metrics,
		snapIndex: p.restoredIndex}
	// NB: what opening counted as applied (a data partition's committed
	// log) has its term; a state machine's log start has none to match.
	if term, err := p.storage.Term(p.commitIndex.Load()); err == nil {
		l.appliedTerm = term
	}
	return l
}

// serve runs the raft loop until Close (nil) or a failure (its error).
func (p *Partition) serve(l *loopState, campaigned bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.logger.Error("raft panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("raft panicked: %v", r)
		}
	}()
	var ticks int
	// The campaign on open waits until raft has applied every entry it
	// knows committed: raft refuses to campaign, with a warning, while a
	// committed configuration change is unapplied, and a state machine's
	// bootstrap entries (or, on a restart, the ones it replays) are
	// until the first Ready is handled.
	campaignPending := campaigned
	for err == nil {
		// NB: drain Ready first: Campaign and Propose leave work before
		// the loop ever waits.
		for err == nil && p.node.HasReady() {
			err = p.handleReady(l, p.node.Ready())
		}
		if err == nil {
			// raft may have met a storage error while stepping or
			// building the Ready (see storage.fault).
			err = p.storage.fault()
		}
		if err != nil {
			return err
		}
		p.releaseHeld()
		if campaignPending {
			if st := p.node.BasicStatus(); st.Applied >= st.Commit {
				campaignPending = false
				// NB: not once a leader has appeared meanwhile: a campaign
				// would only move the term and depose it.
				if st.Lead != raft.None {
					continue
				}
				if err := p.node.Campaign(); err != nil {
					p.logger.Warn("campaign", "err", err)
				}
				continue // to the Ready the campaign left
			}
		}
		select {
		case <-p.stop:
			return nil
		case <-p.ticks:
			// NB: a rejoining replica's raft does not tick: it never
			// times out an election, so never campaigns (see Rejoin).
			if !p.rejoining {
				p.node.Tick()
			}
			ticks++
			if campaigned && !campaignPending && p.Leader() == 0 && ticks%recampaignTicks == 0 {
				if err := p.node.Campaign(); err != nil {
					p.logger.Warn("campaign", "err", err)
				}
			}
			campaigned = campaigned && p.Leader() == 0
			p.expireProposals(l)
			p.checkInSync(&l.followers, false)
			p.askReadIndex(l)
		case to := <-p.transfers:
			p.node.TransferLeader(to)
		case cc := <-p.confChanges:
			// NB: only as the leader that asked: a follower would
			// forward a change computed from a view now stale.
			if p.node.BasicStatus().RaftState != raft.StateLeader {
				break
			}
			if err := p.node.ProposeConfChange(cc); err != nil {
				p.logger.Warn("configuration change dropped", "change", cc.String(), "err", err)
			}
		case m := <-p.inbound:
			p.step(l, m)
		drainInbound:
			for range maxProposalsPerReady - 1 {
				select {
				case m := <-p.inbound:
					p.step(l, m)
				default:
					break drainInbound
				}
			}
		case peer := <-p.unreachable:
			p.node.ReportUnreachable(peer)
		case <-p.appended.signal:
			msgs := p.appended.take()
			p.completeLeaderAcks(l, msgs)
			err = p.appliedSnapshots(l, msgs)
			if err == nil {
				err = p.stepAll(msgs)
			}
		case err = <-p.appendFailed:
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
	return err
}

// loopState is owned by the loop goroutine.
type loopState struct {
	metrics *metrics // the store's

	waiting     map[uint64]*proposal // by proposal id, until applied
	byIndex     map[uint64]*proposal // the waiting proposals appended here, by raft index
	replaced    int                  // waiting proposals whose entries were replaced
	appliedTerm uint64               // the term of the last entry applied
	leaderAcks  []leaderAck          // LeaderOnly proposals being appended, in index order
	followers   syncState
	// readIndex is the leader's commit index as a ReadIndex request
	// returned it (0: not known yet): once applied this far, the replica
	// has applied everything committed before it opened. See checkReady.
	readIndex uint64
	// lastIndex is the last index of the log as raft sees it: what the
	// appender has been handed, durable or not (see checkInbound).
	lastIndex uint64
	// snapIndex is the applied index of the state machine's last snapshot,
	// taken or installed (see maybeSnapshot); snapBytes the bytes of the
	// entries applied since.
	snapIndex, snapBytes uint64
	// producerEntries and producerBatches are the entries, and the
	// idempotent producers' batches, applied since the producer state was
	// last saved (see maybeSaveProducers).
	producerEntries, producerBatches int
	producerBytes                    uint64
	// Inbound messages dropped since the last time they were logged.
	rejectedCount  int
	rejectLoggedAt time.Time
	// lostLogHandoffAt is when checkLostLog last handed leadership over,
	// and to whom; lostEntriesLoggedAt when lostEntries last logged.
	lostLogHandoffAt, lostEntriesLoggedAt time.Time
	lostLogHandoffTo                      uint64
}

// finish completes a waiting proposal.
func (l *loopState) finish(prop *proposal, r proposalResult) {
	if _, waiting := l.waiting[prop.id]; waiting {
		l.metrics.proposalsInFlight.Add(-1)
		if r.err == nil {
			l.metrics.observeCommit(prop)
		}
	}
	delete(l.waiting, prop.id)
	if prop.index != 0 && l.byIndex[prop.index] == prop {
		delete(l.byIndex, prop.index)
	}
	if prop.replaced {
		l.replaced--
	}
	prop.result <- r
}

// propose hands a proposal to raft. On a follower raft forwards it to the
// leader where PartitionConfig.ForwardProposals says so, and drops it
// (ErrNotLeader) elsewhere; it completes when this replica applies its
// entry.
func (p *Partition) propose(l *loopState, prop *proposal) {
	if prop.leaderTerm != 0 {
		// NB: checked here, in the loop, so that no election comes
		// between the check and the append.
		if st := p.node.BasicStatus(); st.RaftState != raft.StateLeader || st.Term != prop.leaderTerm {
			prop.result <- proposalResult{err: fmt.Errorf("%w: the batch is for the leader of term %d; this replica is a %s in term %d",
				ErrNotLeader, prop.leaderTerm, strings.ToLower(strings.TrimPrefix(st.RaftState.String(), "State")), st.Term)}
			return
		}
	}
	if prop.header.ProducerID != 0 && !p.checkProducer(l, prop) {
		return
	}
	if err := p.node.Propose(prop.data); err != nil {
		if errors.Is(err, raft.ErrProposalDropped) {
			err = ErrNotLeader
		}
		prop.result <- proposalResult{err: err}
		return
	}
	if prop.header.ProducerID != 0 {
		p.producers.AddPending(producerBatch(prop.header, 0))
	}
	prop.proposed = time.Now()
	prop.deadline = prop.proposed.Add(p.store.cfg.ProposalTimeout)
	l.waiting[prop.id] = prop
	l.metrics.proposalsInFlight.Add(1)
}

// expireProposals fails proposals waiting past their deadline: a leader
// may have dropped them (a forwarded proposal is not retransmitted).
func (p *Partition) expireProposals(l *loopState) {
	now := time.Now()
	for _, prop := range l.waiting {
		if now.After(prop.deadline) {
			l.finish(prop, proposalResult{err: ErrProposalTimeout})
		}
	}
}

// step feeds a message from a peer into raft, once checkInbound found it
// one a correct peer could send. Raft rejects some more (from a peer no
// longer in the group, say); none of that is this replica's fault.
func (p *Partition) step(l *loopState, m raftpb.Message) {
	if m.Type == raftpb.MsgHeartbeat && m.Commit > l.lastIndex {
		m = p.lostEntries(l, m)
	}
	switch err := checkInbound(m, p.view(l)); {
	case errors.Is(err, errNotVoting):
		p.logger.Debug("not voting", "from", m.From, "type", m.Type.String())
		return
	case err != nil:
		p.rejected(l, m, err)
		return
	}
	p.checkLostLog(l, m)
	if err := p.node.Step(m); err != nil {
		p.logger.Debug("raft rejected a message", "from", m.From, "type", m.Type, "err", err)
	}
}

// lostEntries answers a leader's heartbeat that commits entries this
// replica does not hold, which it acknowledged before it lost its log
// (see PartitionConfig.Rejoin): raft would panic on it, and the leader,
// which thinks this replica up to date, would send it nothing. It tells
// the leader with a rejection below what it acknowledged (the leader
// hands over its leadership on one: checkLostLog) and returns the
// heartbeat with a commit index it can take, so that raft still learns
// of the leader.
func (p *Partition) lostEntries(l *loopState, m raftpb.Message) raftpb.Message {
	hb := m
	// NB: no further than this replica's own commit: its tail past it may
	// not be the leader's.
	hb.Commit = min(l.lastIndex, p.node.BasicStatus().Commit)
	if checkInbound(hb, p.view(l)) != nil {
		return m // rejected anyway
	}
	lastTerm, _ := p.storage.Term(l.lastIndex)
	if now := time.Now(); now.Sub(l.lostEntriesLoggedAt) >= rejectLogInterval {
		l.lostEntriesLoggedAt = now
		p.logger.Warn("the leader commits entries this replica does not hold: telling it this replica lost its log",
			"leader", m.From, "commit", m.Commit, "last_index", l.lastIndex)
	}
	if err := p.send([]raftpb.Message{{Type: raftpb.MsgAppResp, From: p.store.cfg.NodeID, To: m.From, Term: m.Term,
		Reject: true, Index: m.Commit, RejectHint: l.lastIndex, LogTerm: lastTerm}}); err != nil {
		p.logger.Warn("tell the leader of a lost log", "err", err)
	}
	return hb
}

// handleReady routes a Ready's messages: appends to the appender (in
// order), applies here (in order), the rest to peers.
func (p *Partition) handleReady(l *loopState, rd raft.Ready) error {
	var leaderChanged, leadershipLost bool
	was, now := p.Leadership(), p.Leadership()
	if !raft.IsEmptyHardState(rd.HardState) {
		now.Term = rd.HardState.Term
	}
	if rd.SoftState != nil {
		now.Leader = rd.SoftState.Lead
	}
	if now != was {
		// NB: one store, so that no reader sees a leader with another's term.
		p.leadership.Store(&now)
	}
	if rd.SoftState != nil {
		leaderChanged = now.Leader != was.Leader
		if leaderChanged {
			l.metrics.leaderChanges.Inc()
		}
		leadershipLost = was.Leader == p.store.cfg.NodeID && now.Leader != p.store.cfg.NodeID
		p.checkInSync(&l.followers, true)
		p.askReadIndex(l)
		p.checkReady(l)
	}
	for _, rs := range rd.ReadStates {
		l.readIndex = max(l.readIndex, rs.Index)
		p.checkReady(l)
	}
	var remote []raftpb.Message
	for _, m := range rd.Messages {
		switch m.To {
		case raft.LocalAppendThread:
			if m.Snapshot != nil && !raft.IsEmptySnap(*m.Snapshot) && p.cfg.Apply != nil && !p.cfg.snapshots() {
				// A state machine without snapshots never deletes its log:
				// its leader has no snapshot to send, nor could this
				// replica restore one.
				return fmt.Errorf("snapshot at index %d for a state machine partition without snapshots", m.Snapshot.Metadata.Index)
			}
			p.trackAppended(l, m)
			if m.Snapshot != nil && !raft.IsEmptySnap(*m.Snapshot) {
				l.lastIndex = m.Snapshot.Metadata.Index
			}
			if n := len(m.Entries); n > 0 {
				l.lastIndex = m.Entries[n-1].Index
			}
			select {
			case p.appends <- m:
			case err := <-p.appendFailed:
				return err
			}
		case raft.LocalApplyThread:
			// NB: raft hands over for applying only entries that are
			// committed, and a leader counts its own entries only once the
			// appender made them durable: an ack here means fsync'd.
			if err := p.applyCommitted(l, m.Entries); err != nil {
				return err
			}
			// NB: here, where the state machine is at the applied index.
			p.maybeSnapshot(l)
			p.maybeSaveProducers(l)
			if err := p.stepAll(m.Responses); err != nil {
				return err
			}
		default:
			// NB: with AsyncStorageWrites, what must wait for the disk (a
			// follower's append response, a vote) comes back in the
			// appender's responses; the rest may leave once its term is
			// durable (see send).
			remote = append(remote, m)
		}
	}
	if leaderChanged {
		// NB: after this Ready's appends and applies, which may hold the
		// entries of proposals waiting here.
		p.leaderChanged(l, leadershipLost)
	}
	if err := p.send(remote); err != nil {
		return err
	}
	// A leader waits for a snapshot's delivery to be reported before it
	// sends the follower anything more. Ours are a few bytes of metadata
	// that the transport sends in order with what follows: report them
	// delivered at once. One lost on the way makes the follower reject
	// the next append, and the leader sends another.
	for _, m := range remote {
		if m.Type == raftpb.MsgSnap {
			p.node.ReportSnapshot(m.To, raft.SnapshotFinish)
		}
	}
	return nil
}

// leaderChanged fails the proposals that will not be applied under the
// new leader, or cannot be known to be: those never appended here. One
// this replica led when proposing was dropped by raft: ErrNotLeader. One
// it handed to the old leader may sit in that leader's log:
// ErrLeaderChanged. The proposals appended here wait on: they apply, or
// a newer leader's entries replace them (trackAppended).
func (p *Partition) leaderChanged(l *loopState, wasLeader bool) {
	err := ErrLeaderChanged
	if wasLeader {
		err = fmt.Errorf("%w: this replica lost the leadership before appending it", ErrNotLeader)
		// LeaderOnly proposals appended here wait for their entries to
		// apply, as Quorum ones do: a durable append no longer means the
		// leader has it.
		l.leaderAcks = nil
	}
	for _, prop := range l.waiting {
		if prop.index == 0 {
			l.finish(prop, proposalResult{err: err})
		}
	}
	// The retries waiting for a batch proposed in the term that ended:
	// whether it is appended is for the next leader to tell.
	if p.producers != nil {
		for _, prop := range p.producers.ClearPending() {
			if _, ok := l.waiting[prop.id]; ok {
				l.finish(prop, proposalResult{err: ErrLeaderChanged})
			}
		}
	}
}

// stepAll delivers the responses of local storage work (appends made
// durable, entries applied): this node's own back into raft, the rest
// (a follower's append acks, its votes) to the peers.
func (p *Partition) stepAll(msgs []raftpb.Message) error {
	if err := p.send(msgs); err != nil {
		return fmt.Errorf("step a local response: %w", err)
	}
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
		l.snapBytes += uint64(len(e.Data))
		l.producerEntries++
		l.producerBytes += uint64(len(e.Data))
		switch e.Type {
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				return fmt.Errorf("entry %d: conf change: %w", e.Index, err)
			}
			p.applyConfChange(e.Index, cc)
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if err := cc.Unmarshal(e.Data); err != nil {
				return fmt.Errorf("entry %d: conf change: %w", e.Index, err)
			}
			p.applyConfChange(e.Index, cc)
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
			if p.producers != nil {
				ok, err := p.applyProducer(e, l.waiting, &done)
				if err != nil {
					return err
				}
				if ok {
					l.producerBatches++
				}
			}
		}
	}
	last := entries[len(entries)-1]
	if err := p.appliedThrough(l, last.Index, last.Term); err != nil {
		return err
	}
	// NB: acknowledge only after the high watermark moved, so that a
	// producer that reads right after its ack sees its records.
	for _, c := range done {
		l.finish(c.prop, c.result)
	}
	p.failReplaced(l, last.Index)
	return nil
}

// appliedSnapshots moves the high watermark to the snapshots the appender
// installed: for a partition whose state is its log, an installed
// snapshot is an applied one (raft, too, counts it applied once its
// append response steps in). A state machine restores its state from it
// first.
func (p *Partition) appliedSnapshots(l *loopState, msgs []raftpb.Message) error {
	for _, m := range msgs {
		if m.Type != raftpb.MsgStorageAppendResp || m.Snapshot == nil || raft.IsEmptySnap(*m.Snapshot) {
			continue
		}
		snap := m.Snapshot.Metadata
		if p.producers != nil {
			// The appender saved the leader's producer state with it.
			data, err := snapshotData(*m.Snapshot)
			if err != nil {
				return err
			}
			if st := data.GetProducers(); st != nil {
				p.producers.Restore(st)
			}
		}
		if p.cfg.snapshots() {
			// The appender saved it as this replica's snapshot and reset
			// the log; the state machine takes its state before raft
			// hands over any entry after it.
			data, err := snapshotData(*m.Snapshot)
			if err != nil {
				return err
			}
			if err := p.cfg.Restore(data.State); err != nil {
				return fmt.Errorf("restore the leader's snapshot at index %d: %w", snap.Index, err)
			}
			l.snapIndex, l.snapBytes = snap.Index, 0
		}
		if err := p.appliedThrough(l, snap.Index, snap.Term); err != nil {
			return err
		}
		// Entries the snapshot covers are not applied here one by one:
		// the proposals waiting for them cannot learn their outcome.
		for _, prop := range l.waiting {
			if prop.index != 0 && prop.index <= snap.Index {
				l.finish(prop, proposalResult{err: ErrLeaderChanged})
			}
		}
		p.logger.Info("installed a snapshot from the leader", "index", snap.Index, "log_start_offset", p.log.StartOffset())
	}
	return nil
}

// appliedThrough records that everything up to index (of term) is
// applied: it moves the high watermark, wakes readers and checks
// readiness.
func (p *Partition) appliedThrough(l *loopState, index, term uint64) error {
	if err := p.setAppliedIndex(index); err != nil {
		return err
	}
	p.storage.appliedTo(index)
	p.changed.notify()
	l.appliedTerm = term
	p.checkReady(l)
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
	return completion{prop: prop, result: proposalResult{baseOffset: base, err: applyErr}}, nil
}

// applyConfChange applies a committed configuration change; the appender
// persists the new ConfState (see appender.saveState). A change the
// ConfState already includes (a state machine replaying its log, a
// follower's entries after a snapshot) is skipped: applying a joint
// change twice is an error to raft.
func (p *Partition) applyConfChange(index uint64, cc raftpb.ConfChangeI) {
	if index <= p.storage.currentState().confIndex {
		return
	}
	p.storage.setConf(*p.node.ApplyConfChange(cc), index)
}

// askReadIndex asks the leader, until this follower is ready, for its
// commit index (raft's ReadIndex: a leader answers once it has committed
// an entry of its term and a quorum still follows it). It runs when the
// leader changes and on every tick, since a request made without a leader,
// or lost on the way, gets no answer.
func (p *Partition) askReadIndex(l *loopState) {
	leader := p.Leader()
	if l.readIndex != 0 || leader == 0 || leader == p.store.cfg.NodeID || p.isReady() {
		return
	}
	// NB: a context of its own: a leader drops a request whose context
	// is that of one pending, and every follower asks at once on restart.
	p.node.ReadIndex(fmt.Appendf(nil, "ready-%d", p.store.cfg.NodeID))
}

// checkReady marks the partition ready once it has applied everything
// committed before it opened: a replica that restarts knows only the
// commit index it last saved, which may lag the group's, and must not
// serve, or replay state from, a log it has not caught up on. A leader
// has once it applied an entry of its own term; a follower once it
// applied as far as the leader's commit index when asked (askReadIndex).
func (p *Partition) checkReady(l *loopState) {
	// NB: the high watermark of a new leader lags the group's until it
	// has committed an entry of its own term (raft commits earlier terms'
	// entries only so).
	p.leaderCurrent.Store(p.Leader() == p.store.cfg.NodeID && l.appliedTerm == p.node.BasicStatus().Term)
	switch leader := p.Leader(); {
	case leader == 0:
		return
	case leader == p.store.cfg.NodeID:
		if l.appliedTerm != p.node.BasicStatus().Term {
			return
		}
	case l.readIndex == 0 || p.commitIndex.Load() < l.readIndex:
		return
	}
	if p.rejoining {
		// Caught up: it holds everything the group committed, and
		// may vote and campaign again.
		if err := RemoveFile(p.dir, rejoiningFile); err != nil {
			p.logger.Error("caught up after rejoining, but the marker stays: still not voting", "err", err)
			return
		}
		p.rejoining = false
		p.logger.Info("rejoined: caught up with the leader's log; voting again")
	}
	p.readyOnce.Do(func() { close(p.ready) })
}

func (p *Partition) isReady() bool {
	select {
	case <-p.ready:
		return true
	default:
		return false
	}
}

func (p *Partition) failWaiting(l *loopState, err error) {
	for _, prop := range l.waiting {
		l.finish(prop, proposalResult{err: err})
	}
	if p.producers != nil {
		p.producers.ClearPending() // NB: their waiters were in l.waiting
	}
	l.leaderAcks = nil
}

// shutdown runs on the loop goroutine when the partition closes: the
// appender finishes what it was given and saves the state, then the log
// closes.
func (p *Partition) shutdown(l *loopState) {
	p.failWaiting(l, ErrClosed)
	if p.producers != nil && l.producerEntries > 0 && p.Err() == nil {
		// NB: read by the appender once appends is closed.
		p.finalProducers = p.producers.Encode(p.commitIndex.Load())
	}
	close(p.appends)
	<-p.appenderDone
	if p.closeErr == nil && p.finalErr != nil {
		p.closeErr = fmt.Errorf("save raft state on close: %w", p.finalErr)
	}
	if err := p.log.Close(); err != nil && p.closeErr == nil {
		p.closeErr = err
	}
}
