package group

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/runnel-broker/runnel/server/internal/assignor"
)

// Partition is one partition of a topic.
type Partition = assignor.Partition

// The errors of a commit a member may not make (CanCommit).
var (
	// ErrUnknownMember: the member is not (or no longer) in the group.
	ErrUnknownMember = errors.New("unknown member")
	// ErrStaleEpoch: the member's epoch moved on since the assignment the
	// commit was made under.
	ErrStaleEpoch = errors.New("stale member epoch")
	// ErrNotOwner: the member does not hold the partition.
	ErrNotOwner = errors.New("partition not owned")
	// ErrInstanceMismatch: a join naming a member and an instance id that
	// do not go together.
	ErrInstanceMismatch = errors.New("instance id mismatch")
	// ErrGroupFull: a join past Config.MaxMembers.
	ErrGroupFull = errors.New("group full")
)

// Config is a group's timing and assignor.
type Config struct {
	// SessionTimeout: how long a member whose stream broke stays in the
	// group, holding its partitions, waiting to re-attach.
	SessionTimeout time.Duration
	// RebalanceTimeout: how long a member may take to finish with a
	// partition taken from it before it is released anyway and the member
	// removed.
	RebalanceTimeout time.Duration
	Assignor         assignor.Assignor
	// MaxMembers bounds the group's members, as Kafka's
	// group.consumer.max.size (0: no bound).
	MaxMembers int
}

// Group is one consumer group's membership and assignment.
type Group struct {
	name string
	cfg  Config
	// epoch moves on every change the target assignment depends on; the
	// target is always computed at it.
	epoch      int32
	members    map[string]*member
	byInstance map[string]string // static members: instance id → member id
	target     map[string][]Partition
	// holder is the member that owns or is revoking each partition: at
	// most one, which is the group's one promise.
	holder     map[Partition]string
	partitions map[string]int32 // the subscribed topics' partition counts
}

type member struct {
	id, instanceID, client string
	topics                 []string
	epoch                  int32
	// owned and revoking hold the member epoch at which it gained each
	// partition: a commit made at that epoch or after, up to its current
	// one, is its own.
	owned    map[Partition]int32
	revoking map[Partition]*revocation
	attached bool
	expires  time.Time // detached: removed then
	// leaving: its stream ended for good; it stays only until it commits
	// what it read of the partitions it still revokes.
	leaving bool
}

type revocation struct {
	since    int32
	deadline time.Time
	// stopped: the member's stream has delivered its last batch of the
	// partition; a commit then releases it, if it covers next.
	stopped bool
	// next: the offset after the last record the stream delivered of the
	// partition (0: nothing to wait for). A commit below it was made
	// before the member processed the last records it was sent: it may
	// still be processing them, so the partition stays.
	next int64
}

// New returns an empty group.
func New(name string, cfg Config) *Group {
	return &Group{name: name, cfg: cfg, members: map[string]*member{}, byInstance: map[string]string{},
		target: map[string][]Partition{}, holder: map[Partition]string{}, partitions: map[string]int32{}}
}

// Join is a stream joining the group or re-attaching to it.
type Join struct {
	// MemberID re-attaches the member an earlier stream was; empty, or
	// unknown to the group (its coordinator moved), joins as a new
	// member with this id.
	MemberID string
	// InstanceID makes a static member: the same instance always gets
	// the same member back.
	InstanceID string
	Topics     []string
	Client     string // the client's address, for DescribeGroup
}

// Join adds a member or re-attaches one, returning its id, and whether
// it was in the group already (an earlier stream may have read what it
// must now give up). newID makes the id of a new member that brings none.
// A static member's instance already attached is replaced (its earlier
// stream must end). A member whose subscription changed rebalances the
// group; one re-attaching as it was does not. It refuses a join that
// names a member with another instance id than the member has
// (ErrInstanceMismatch, as Kafka's FENCED_INSTANCE_ID), or that would
// make the group larger than MaxMembers (ErrGroupFull).
func (g *Group) Join(now time.Time, j Join, newID func() string) (string, bool, error) {
	topics := slices.Compact(slices.Sorted(slices.Values(j.Topics)))
	id := j.MemberID
	if j.InstanceID != "" {
		if known, ok := g.byInstance[j.InstanceID]; ok {
			if id != "" && id != known {
				return "", false, fmt.Errorf("%w: instance %q of group %q is member %q, not %q", ErrInstanceMismatch, j.InstanceID, g.name, known, id)
			}
			id = known
		}
	}
	m := g.members[id]
	if m != nil && m.instanceID != j.InstanceID {
		return "", false, fmt.Errorf("%w: member %q of group %q has instance id %q, not %q: re-attach as it joined", ErrInstanceMismatch, id, g.name, m.instanceID, j.InstanceID)
	}
	if id == "" || m == nil {
		if g.cfg.MaxMembers > 0 && len(g.members) >= g.cfg.MaxMembers {
			return "", false, fmt.Errorf("%w: group %q has %d members, the most a group may have", ErrGroupFull, g.name, len(g.members))
		}
		if id == "" {
			id = newID()
		}
		m = &member{id: id, instanceID: j.InstanceID, owned: map[Partition]int32{}, revoking: map[Partition]*revocation{}}
		g.members[id] = m
		if j.InstanceID != "" {
			g.byInstance[j.InstanceID] = id
		}
		m.topics = topics
		m.attached, m.client = true, j.Client
		g.rebalance(now)
		return id, false, nil
	}
	m.attached, m.client, m.expires, m.leaving = true, j.Client, time.Time{}, false
	if !slices.Equal(m.topics, topics) {
		m.topics = topics
		g.rebalance(now)
	}
	return id, true, nil
}

// Detach is a member's stream ending without leaving (it broke): the
// member keeps its partitions for the session timeout.
func (g *Group) Detach(now time.Time, id string) {
	if m := g.members[id]; m != nil {
		m.attached, m.expires = false, now.Add(g.cfg.SessionTimeout)
	}
}

// Depart is a member's stream ending for good (the client closed it, or
// read to the end without follow): the member leaves, but a partition
// it delivered records of beyond the committed offset (not settled)
// stays with it, stopped, until it commits there or the rebalance timeout
// passes, so that what it processed last is not read again by the next
// owner.
func (g *Group) Depart(now time.Time, id string, settled func(Partition) bool) {
	m := g.members[id]
	if m == nil {
		return
	}
	m.attached, m.leaving = false, true
	m.topics = nil
	for p, since := range m.owned {
		delete(m.owned, p)
		if settled(p) {
			delete(g.holder, p)
			continue
		}
		m.revoking[p] = &revocation{since: since, deadline: now.Add(g.cfg.RebalanceTimeout), stopped: true}
	}
	for p, r := range m.revoking {
		r.stopped = true
		if settled(p) {
			delete(m.revoking, p)
			delete(g.holder, p)
		}
	}
	if len(m.revoking) == 0 {
		g.Leave(now, id)
		return
	}
	m.expires = now.Add(g.cfg.RebalanceTimeout)
	g.rebalance(now)
}

// Leave removes a member: what it held goes to the others at once.
func (g *Group) Leave(now time.Time, id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	g.forget(m)
	g.rebalance(now)
}

// forget removes a member and frees what it held.
func (g *Group) forget(m *member) {
	delete(g.members, m.id)
	if m.instanceID != "" {
		delete(g.byInstance, m.instanceID)
	}
	for p := range m.owned {
		delete(g.holder, p)
	}
	for p := range m.revoking {
		delete(g.holder, p)
	}
}

// Stopped reports that member id's stream delivered its last batch of a
// partition it is revoking, up to offset next (exclusive); settled: it
// delivered nothing beyond the group's committed offset there, so the
// partition moves at once.
func (g *Group) Stopped(now time.Time, id string, p Partition, next int64, settled bool) {
	m := g.members[id]
	if m == nil || m.revoking[p] == nil {
		return
	}
	// NB: the first report stands: a stream that re-attached knows less
	// than the one that delivered the partition.
	if r := m.revoking[p]; !r.stopped {
		r.stopped, r.next = true, next
	}
	if settled {
		g.release(now, m, p)
	}
}

// Committed reports that member id committed offset in p: a partition it
// is revoking, and has stopped delivering, moves once the commit covers
// what the stream delivered (or the member left: its stream is gone).
// An earlier commit may have been made while the last batches were still
// on their way to the member, which goes on to process them: moving the
// partition then would have the next owner read them too, at the same
// time.
func (g *Group) Committed(now time.Time, id string, p Partition, offset int64) {
	m := g.members[id]
	if m == nil || m.revoking[p] == nil || !m.revoking[p].stopped {
		return
	}
	if !m.leaving && offset < m.revoking[p].next {
		return
	}
	g.release(now, m, p)
}

// CanCommit says whether member id, at epoch, may commit offsets in p:
// only while it holds p (owns or revokes it), and has held it without a
// break since epoch. A commit made under an earlier assignment is still
// the member's own if p never left it since; once p went to another
// member, nothing the first commits there counts.
func (g *Group) CanCommit(id string, epoch int32, p Partition) error {
	m := g.members[id]
	if m == nil {
		return fmt.Errorf("%w: member %q is not in group %q (it left, or was removed after its session or rebalance timeout): subscribe again", ErrUnknownMember, id, g.name)
	}
	if epoch > m.epoch {
		return fmt.Errorf("%w: member %q of group %q is at epoch %d, and no assignment gave it epoch %d", ErrStaleEpoch, id, g.name, m.epoch, epoch)
	}
	since, owned := m.owned[p]
	if r := m.revoking[p]; r != nil {
		since, owned = r.since, true
	}
	switch {
	case !owned:
		return fmt.Errorf("%w: member %q of group %q does not own %s partition %d (the group gave it to another member)", ErrNotOwner, id, g.name, p.Topic, p.Partition)
	case epoch < since:
		return fmt.Errorf("%w: member %q of group %q got %s partition %d again at epoch %d, after the assignment of epoch %d the commit was made under", ErrStaleEpoch, id, g.name, p.Topic, p.Partition, since, epoch)
	}
	return nil
}

// SetPartitions sets the partition counts of the topics (a topic absent
// has none: not created, or deleted); the group rebalances if one it
// subscribes to changed. The group keeps the map, which the caller must
// not change after (the coordinator hands every group the same one).
func (g *Group) SetPartitions(now time.Time, partitions map[string]int32) {
	changed := false
	for _, t := range g.Topics() {
		if partitions[t] != g.partitions[t] {
			changed = true
		}
	}
	g.partitions = partitions
	if changed {
		g.rebalance(now)
	}
}

// Topics returns every topic a member subscribes to, sorted.
func (g *Group) Topics() []string {
	var topics []string
	for _, m := range g.members {
		topics = append(topics, m.topics...)
	}
	return slices.Compact(slices.Sorted(slices.Values(topics)))
}

// Tick removes the members whose session or rebalance timeout passed,
// and returns when it next has something to do (zero: nothing pending).
func (g *Group) Tick(now time.Time) time.Time {
	for _, id := range slices.Sorted(maps.Keys(g.members)) {
		m := g.members[id]
		if !m.attached && !now.Before(m.expires) {
			g.Leave(now, id)
			continue
		}
		for _, r := range m.revoking {
			if !now.Before(r.deadline) {
				g.Leave(now, id)
				break
			}
		}
	}
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, m := range g.members {
		if !m.attached {
			earliest(m.expires)
		}
		for _, r := range m.revoking {
			earliest(r.deadline)
		}
	}
	return next
}

// Empty says whether the group has no member.
func (g *Group) Empty() bool { return len(g.members) == 0 }

// Size is how many members the group has.
func (g *Group) Size() int { return len(g.members) }

// Name is the group's name.
func (g *Group) Name() string { return g.name }

// Epoch is the group epoch.
func (g *Group) Epoch() int32 { return g.epoch }

// View is what a member's stream is told: the partitions it reads now.
type View struct {
	MemberID    string
	GroupEpoch  int32
	MemberEpoch int32
	Owned       []Partition // sorted
	// Revoking: partitions taken from it that it has not finished with
	// (its stream reports Stopped for each).
	Revoking []Partition
	// Pending: partitions its target gives it that it does not own yet
	// (another member still revokes them, or it revokes some itself).
	Pending int
}

// View returns member id's view; false when it is not in the group.
func (g *Group) View(id string) (View, bool) {
	m := g.members[id]
	if m == nil {
		return View{}, false
	}
	return View{MemberID: id, GroupEpoch: g.epoch, MemberEpoch: m.epoch, Owned: sorted(m.owned),
		Revoking: sorted(m.revoking), Pending: len(g.target[id]) - len(m.owned)}, true
}

// MemberState is one member as DescribeGroup shows it.
type MemberState struct {
	ID, InstanceID, Client string
	Topics                 []string
	Epoch                  int32
	Attached               bool
	Owned, Revoking        []Partition
	Target                 []Partition
}

// Members returns the members, sorted by id.
func (g *Group) Members() []MemberState {
	var out []MemberState
	for _, id := range slices.Sorted(maps.Keys(g.members)) {
		m := g.members[id]
		out = append(out, MemberState{ID: id, InstanceID: m.instanceID, Client: m.client, Topics: m.topics,
			Epoch: m.epoch, Attached: m.attached, Owned: sorted(m.owned), Revoking: sorted(m.revoking),
			Target: g.target[id]})
	}
	return out
}

// rebalance moves the group epoch on and computes the target at it,
// sticky to the previous one, then reconciles.
func (g *Group) rebalance(now time.Time) {
	g.epoch++
	members := make([]assignor.Member, 0, len(g.members))
	for _, id := range slices.Sorted(maps.Keys(g.members)) {
		m := g.members[id]
		members = append(members, assignor.Member{ID: id, Topics: m.topics, Owned: g.target[id]})
	}
	g.target = g.cfg.Assignor.Assign(members, g.partitions)
	g.reconcile(now)
}

// reconcile moves every member towards its target: what another member
// should have is revoked, what is free and targeted is given to a member
// that revokes nothing, whose epoch then reaches the group's.
func (g *Group) reconcile(now time.Time) {
	for _, id := range slices.Sorted(maps.Keys(g.members)) {
		m := g.members[id]
		target := map[Partition]bool{}
		for _, p := range g.target[id] {
			target[p] = true
		}
		for p, since := range m.owned {
			if target[p] {
				continue
			}
			delete(m.owned, p)
			if g.partitions[p.Topic] <= p.Partition { // gone: nothing to hand over
				delete(g.holder, p)
				continue
			}
			m.revoking[p] = &revocation{since: since, deadline: now.Add(g.cfg.RebalanceTimeout)}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(g.members)) {
		m := g.members[id]
		if len(m.revoking) > 0 {
			continue
		}
		m.epoch = g.epoch
		for _, p := range g.target[id] {
			if g.holder[p] == "" {
				g.holder[p] = id
				m.owned[p] = m.epoch
			}
		}
	}
}

func (g *Group) release(now time.Time, m *member, p Partition) {
	delete(m.revoking, p)
	delete(g.holder, p)
	if m.leaving && len(m.revoking) == 0 {
		// NB: no rebalance: the target left it out when it departed.
		g.forget(m)
	}
	g.reconcile(now)
}

func sorted[V any](set map[Partition]V) []Partition {
	out := slices.Collect(maps.Keys(set))
	slices.SortFunc(out, Compare)
	return out
}

// Compare orders partitions by topic, then number.
func Compare(a, b Partition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition - b.Partition)
}
