package raftstore

import (
	"maps"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// syncCheckTicks is how often, in ticks, a leader looks at its
// followers' progress.
const syncCheckTicks = 5

// InSync returns the replicas that answer the leader and hold every
// entry the leader held a sync check earlier, or did within the last
// Config.ReplicaLagTime, as this replica sees them if it leads, else nil.
//
// NB: the leader's log, not the commit index: a follower that cannot
// receive an entry holds the commit index back, so it would always hold
// every committed entry and look in sync while the high watermark stands
// still. Kafka's rule is the same (caught up to the leader's log end).
// One check of slack (syncCheckTicks) lets a follower that keeps up
// under steady load count.
func (p *Partition) InSync() []uint64 {
	if s := p.followers.Load(); s != nil {
		return slices.Clone(s.inSync)
	}
	return nil
}

// CaughtUp returns the replicas that answer the leader and hold every
// committed entry now (no grace period: the ones to hand leadership to),
// as this replica sees them if it leads, else nil.
func (p *Partition) CaughtUp() []uint64 {
	if s := p.followers.Load(); s != nil {
		return slices.Clone(s.caughtUp)
	}
	return nil
}

// followerView is what a leader last saw of its group.
type followerView struct {
	inSync, caughtUp []uint64
}

// TransferLeadership asks the leader (this replica) to hand leadership to
// the replica to; it is a request, done when Leader says so.
func (p *Partition) TransferLeadership(to uint64) {
	select {
	case p.transfers <- to:
	default: // one request in flight is enough
	}
}

// Conf returns the group's configuration as this replica last applied it.
func (p *Partition) Conf() raftpb.ConfState {
	cs := p.storage.currentState().conf
	return raftpb.ConfState{
		Voters:         slices.Clone(cs.Voters),
		Learners:       slices.Clone(cs.Learners),
		VotersOutgoing: slices.Clone(cs.VotersOutgoing),
		LearnersNext:   slices.Clone(cs.LearnersNext),
		AutoLeave:      cs.AutoLeave,
	}
}

// Joinable reports whether a replica added to the group can learn its
// configuration: from the voters the log starts with (groups created
// since they are written there), or from a snapshot once the log start
// moved. A group created before, whose log still starts at 1, has its
// first voters only in its state files.
func (p *Partition) Joinable() bool {
	return p.storage.currentState().confIndex > 0 || p.log.FirstIndex() > 1
}

// ChangeConf asks the leader (this replica) to propose a configuration
// change: adding learners, promoting them, removing voters (several at
// once go through a joint configuration, left automatically). It is a
// request, done when Conf says so: raft takes one change at a time and
// drops a proposal made while another is pending.
func (p *Partition) ChangeConf(cc raftpb.ConfChangeV2) {
	select {
	case p.confChanges <- cc:
	default: // one request in flight is enough
	}
}

// syncState is the leader's view of its followers, owned by the loop.
type syncState struct {
	ticks        int
	lastCaughtUp map[uint64]time.Time
	// leaderLast is the leader's own last durable index at the previous
	// check: a follower holding it is keeping up.
	leaderLast uint64
}

// checkInSync runs on the loop every tick and publishes, every
// syncCheckTicks or when forced (leadership changed), which replicas are
// in sync.
func (p *Partition) checkInSync(s *syncState, force bool) {
	s.ticks++
	if s.ticks%syncCheckTicks != 0 && !force {
		return
	}
	st := p.node.Status()
	if st.RaftState != raft.StateLeader {
		p.followers.Store(nil)
		clear(s.lastCaughtUp)
		s.leaderLast = 0
		return
	}
	now := time.Now()
	var in, caughtUp []uint64
	for id, pr := range st.Progress {
		if _, seen := s.lastCaughtUp[id]; !seen {
			// A new leader gives its followers the benefit of the doubt
			// for one lag period, as Kafka does.
			s.lastCaughtUp[id] = now
		}
		// NB: RecentActive too: in an idle group a dead follower's match
		// stays at the commit index.
		if id == st.ID || (pr.RecentActive && pr.Match >= st.Commit) {
			caughtUp = append(caughtUp, id)
		}
		if id == st.ID || (pr.RecentActive && pr.Match >= max(st.Commit, s.leaderLast)) {
			s.lastCaughtUp[id] = now
		}
		if now.Sub(s.lastCaughtUp[id]) < p.store.cfg.ReplicaLagTime {
			in = append(in, id)
		}
	}
	s.leaderLast = st.Progress[st.ID].Match
	slices.Sort(in)
	slices.Sort(caughtUp)
	p.followers.Store(&followerView{inSync: in, caughtUp: caughtUp})
}

// lostLogHandoffInterval spaces the leader's handoffs for a follower that
// lost its log: the first needs an election to land.
const lostLogHandoffInterval = 2 * time.Second

// checkLostLog looks at a follower's rejected append: one that rejects
// below its match index lost entries it had acknowledged (its disk was
// wiped, and it rejoins: see PartitionConfig.Rejoin). Raft never probes a
// follower below its match index, which only a new leader resets, so
// under this leader that follower could never catch up: hand the
// leadership to a voter that has every committed entry. With no such
// voter (the others are down), the follower waits for one to come back.
// On the loop goroutine, only for rejections: Status copies the progress.
func (p *Partition) checkLostLog(l *loopState, m raftpb.Message) {
	if m.Type != raftpb.MsgAppResp || !m.Reject {
		return
	}
	st := p.node.Status()
	pr, ok := st.Progress[m.From]
	// NB: a rejection of an index past the match index is raft's own
	// business (a probe, or a stale answer to one).
	if st.RaftState != raft.StateLeader || !ok || m.Index > pr.Match || m.RejectHint >= m.Index {
		return
	}
	if time.Since(l.lostLogHandoffAt) < lostLogHandoffInterval {
		return
	}
	l.lostLogHandoffAt = time.Now()
	// NB: the voter holding the most, lowest id first on a tie, but not
	// the one tried last if it is still not leading: another that lost
	// its log looks just as caught up (its match index is as stale), and
	// does not take the leadership.
	voters := st.Config.Voters.IDs()
	var to uint64
	for _, id := range slices.Sorted(maps.Keys(st.Progress)) {
		other := st.Progress[id]
		if _, voter := voters[id]; !voter || id == st.ID || id == m.From || id == l.lostLogHandoffTo ||
			other.Match < st.Commit || !other.RecentActive {
			continue
		}
		if to == 0 || other.Match > st.Progress[to].Match {
			to = id
		}
	}
	l.lostLogHandoffTo = to
	if to == 0 {
		p.logger.Warn("a follower lost entries it had acknowledged, and no other voter has every committed entry to lead while it catches up",
			"follower", m.From, "acknowledged", pr.Match, "has", m.RejectHint)
		return
	}
	p.logger.Warn("a follower lost entries it had acknowledged: handing the leadership over so that it can catch up",
		"follower", m.From, "acknowledged", pr.Match, "has", m.RejectHint, "to", to)
	p.node.TransferLeader(to)
}
