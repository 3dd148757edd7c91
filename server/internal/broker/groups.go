package broker

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/group"
	"github.com/runnel-broker/runnel/server/internal/offsets"
)

// The defaults of a group's timing, Kafka's.
const (
	DefaultGroupSessionTimeout   = 45 * time.Second
	DefaultGroupRebalanceTimeout = 30 * time.Second
)

// groupTick is how often the coordinator runs the groups' timers and
// checks it still leads their offsets partitions.
const groupTick = 100 * time.Millisecond

// ErrFenced: a group member the group has moved on from (it was removed,
// its partition went to another member, or a newer stream of the same
// static instance replaced it): what it asks can never succeed as it is.
var ErrFenced = errors.New("fenced")

// ErrGroupFull: a join past MaxGroupMembers.
var ErrGroupFull = errors.New("group full")

// MaxGroupMembers bounds a group's members (Kafka's
// group.consumer.max.size): each is in the coordinator's memory, and each
// join or leave computes the group's assignment again.
const MaxGroupMembers = 1000

// NotCoordinatorError: the group's coordinator is another broker (the
// leader of the group's __consumer_offsets partition), or none is known
// at the moment. It unwraps to ErrUnavailable.
type NotCoordinatorError struct {
	Group       string
	Coordinator Member // NodeID 0: none known
}

func (e *NotCoordinatorError) Error() string {
	if e.Coordinator.NodeID == 0 {
		return fmt.Sprintf("group %q has no coordinator at the moment: retry", e.Group)
	}
	return fmt.Sprintf("group %q is coordinated by broker %d at %s", e.Group, e.Coordinator.NodeID, e.Coordinator.Address)
}

func (e *NotCoordinatorError) Unwrap() error { return ErrUnavailable }

// coordinator keeps the consumer groups whose offsets partition this
// broker leads: their state is in memory, and on a change of leader the
// members' streams end, to re-attach to the new coordinator (their
// committed offsets are in the replicated log, so nothing committed is
// read again).
type coordinator struct {
	b      *Broker
	mu     sync.Mutex // guards groups and every coordinated and GroupMember state
	groups map[string]*coordinated
}

type coordinated struct {
	// commitMu orders the group's commits: taken before mu, held from a
	// commit's check to its submission, so that the log holds commits in
	// the order they were checked (see commitChecked).
	commitMu sync.Mutex
	g        *group.Group
	part     *raftstore.Partition // its offsets partition
	term     uint64               // the term this broker leads it in
	// streams is each member's current stream.
	streams map[string]*GroupMember
}

// GroupMember is one stream's membership of a group.
type GroupMember struct {
	c       *coordinator
	cg      *coordinated
	group   string
	id      string
	changed chan struct{} // cap 1: the view changed
	done    chan struct{} // closed when the membership ended (err says why)
	// guarded by c.mu
	view group.View
	err  error
	// lost: the broker relaying the stream said its client's connection
	// was lost (MemberLost).
	lost bool
	// inherited: the member was in the group before this stream, which
	// may have partitions to give up that an earlier stream read.
	inherited bool
}

// JoinGroup is a stream joining a group.
type JoinGroup struct {
	Group, MemberID, InstanceID string
	Topics                      []string
	Client                      string
}

// JoinGroup makes a stream a member of its group, on the group's
// coordinator only: elsewhere it returns a *NotCoordinatorError.
func (b *Broker) JoinGroup(j JoinGroup) (*GroupMember, error) {
	if err := ValidateGroup(j.Group); err != nil {
		return nil, err
	}
	if len(j.MemberID) > MaxGroupNameLength || len(j.InstanceID) > MaxGroupNameLength {
		return nil, errs.Newf(ErrInvalid, "member_id and instance_id are at most %d bytes", MaxGroupNameLength)
	}
	if len(j.Topics) == 0 {
		return nil, errs.Newf(ErrInvalid, "a group member subscribes to at least one topic: set topic or topics")
	}
	for _, t := range j.Topics {
		if _, err := b.catalog.Topic(t); err != nil {
			return nil, err
		}
	}
	c := b.groups
	c.mu.Lock()
	defer c.mu.Unlock()
	cg, err := c.coordinatedLocked(j.Group)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	cg.g.SetPartitions(now, b.partitionCounts())
	id, inherited, err := cg.g.Join(now, group.Join{MemberID: j.MemberID, InstanceID: j.InstanceID, Topics: j.Topics, Client: j.Client}, newID)
	switch {
	case errors.Is(err, group.ErrGroupFull):
		return nil, errs.Newf(ErrGroupFull, "%v", err)
	case err != nil:
		return nil, errs.Newf(ErrFenced, "%v", err)
	}
	if old := cg.streams[id]; old != nil {
		old.endLocked(errs.Newf(ErrFenced, "group %q member %q: a newer stream of the same member replaced this one", j.Group, id))
	}
	m := &GroupMember{c: c, cg: cg, group: j.Group, id: id, changed: make(chan struct{}, 1), done: make(chan struct{}),
		inherited: inherited}
	cg.streams[id] = m
	c.publishLocked(cg)
	return m, nil
}

// coordinatedLocked returns the group's state, creating it when this
// broker leads the group's offsets partition.
func (c *coordinator) coordinatedLocked(name string) (*coordinated, error) {
	part := c.b.offsetParts[offsets.PartitionFor(name)]
	lead := part.Leadership()
	if lead.Leader != uint64(c.b.cfg.NodeID) {
		nc := &NotCoordinatorError{Group: name}
		if lead.Leader != 0 {
			nc.Coordinator, _ = c.b.Member(int32(lead.Leader))
		}
		return nil, nc
	}
	// NB: a leader just elected may not have applied every commit its
	// predecessor acknowledged: until it applied an entry of its own term,
	// its offsets table could start a member before what was committed.
	if !part.LeadsCurrent() {
		return nil, &NotCoordinatorError{Group: name}
	}
	cg := c.groups[name]
	if cg != nil && cg.term != lead.Term {
		c.dropLocked(name, cg)
		cg = nil
	}
	if cg == nil {
		cg = &coordinated{part: part, term: lead.Term, streams: map[string]*GroupMember{},
			g: group.New(name, group.Config{SessionTimeout: c.b.cfg.GroupSessionTimeout,
				RebalanceTimeout: c.b.cfg.GroupRebalanceTimeout, Assignor: c.b.assignor, MaxMembers: MaxGroupMembers})}
		c.groups[name] = cg
	}
	return cg, nil
}

// dropLocked forgets a group whose coordinator this broker no longer is.
func (c *coordinator) dropLocked(name string, cg *coordinated) {
	for _, m := range cg.streams {
		m.endLocked(&NotCoordinatorError{Group: name})
	}
	delete(c.groups, name)
}

// publishLocked tells every stream of the group its view, and ends the
// streams of members the group no longer has.
func (c *coordinator) publishLocked(cg *coordinated) {
	for id, m := range cg.streams {
		v, ok := cg.g.View(id)
		if !ok {
			m.endLocked(errs.Newf(ErrFenced, "group %q removed member %q: it did not finish with a partition taken from it within the rebalance timeout (%v), or its session expired",
				m.group, id, c.b.cfg.GroupRebalanceTimeout))
			continue
		}
		if v.GroupEpoch == m.view.GroupEpoch && v.MemberEpoch == m.view.MemberEpoch && v.Pending == m.view.Pending &&
			slices.Equal(v.Owned, m.view.Owned) && slices.Equal(v.Revoking, m.view.Revoking) {
			continue
		}
		m.view = v
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}
}

// run ticks the groups' timers until closing.
func (c *coordinator) run(closing <-chan struct{}) {
	t := time.NewTicker(groupTick)
	defer t.Stop()
	for {
		select {
		case <-closing:
			c.mu.Lock()
			for name, cg := range c.groups {
				c.dropLocked(name, cg)
			}
			c.mu.Unlock()
			return
		case <-t.C:
		}
		c.tick(time.Now())
	}
}

func (c *coordinator) tick(now time.Time) {
	counts := c.b.partitionCounts()
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, cg := range c.groups {
		if lead := cg.part.Leadership(); lead.Leader != uint64(c.b.cfg.NodeID) || lead.Term != cg.term {
			c.dropLocked(name, cg)
			continue
		}
		cg.g.SetPartitions(now, counts)
		cg.g.Tick(now)
		c.publishLocked(cg)
		if cg.g.Empty() && len(cg.streams) == 0 {
			delete(c.groups, name)
		}
	}
}

// ID is the member's id.
func (m *GroupMember) ID() string { return m.id }

// Group is the group's name.
func (m *GroupMember) Group() string { return m.group }

// Changed has a value when the view changed since it was last taken.
func (m *GroupMember) Changed() <-chan struct{} { return m.changed }

// Done is closed when the membership ends: Err says why.
func (m *GroupMember) Done() <-chan struct{} { return m.done }

// Err says why the membership ended.
func (m *GroupMember) Err() error {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	return m.err
}

// View returns the member's current view.
func (m *GroupMember) View() group.View {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	return m.view
}

// Delivered is what a stream delivered of a partition: the records from
// offset From up to Next; NotRead when this stream never read it.
type Delivered struct {
	From, Next int64
	NotRead    bool
}

// Stopped reports that the stream delivered its last batch of p, which
// it is revoking.
func (m *GroupMember) Stopped(p group.Partition, d Delivered) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	// NB: settled is read under mu, as commits are released: a commit
	// applied between the two would otherwise be seen by neither.
	if m.current() {
		m.cg.g.Stopped(time.Now(), m.id, p, d.Next, m.settled(p, d))
		m.c.publishLocked(m.cg)
	}
}

// settled says whether the stream delivered nothing of p beyond the
// group's committed offset: p may move at once. One it never read is
// settled, unless the member had an earlier stream, which may have read
// it, and whose client may still be processing that: c.mu is held.
func (m *GroupMember) settled(p group.Partition, d Delivered) bool {
	if d.NotRead {
		return !m.inherited
	}
	if d.Next <= d.From {
		return true
	}
	t, err := m.c.b.catalog.Topic(p.Topic)
	if err != nil {
		return true // deleted: nothing to hand over
	}
	o, ok := m.c.b.offsets.Committed(m.group, t.ID)[p.Partition]
	return ok && d.Next <= o
}

// Close ends the stream's membership. lost says the stream broke, or
// the broker is shutting down: the member keeps its partitions for the
// session timeout, to re-attach. Otherwise it leaves: delivered is what
// the stream delivered of the partitions it owned, and those it read
// beyond the committed offset stay with it until it commits them (or the
// rebalance timeout passes), so that the next owner starts after them.
func (m *GroupMember) Close(lost bool, delivered map[group.Partition]Delivered) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if !m.current() {
		return
	}
	delete(m.cg.streams, m.id)
	if lost || m.lost {
		m.cg.g.Detach(time.Now(), m.id)
	} else {
		m.cg.g.Depart(time.Now(), m.id, func(p group.Partition) bool {
			d, read := delivered[p]
			d.NotRead = !read
			return m.settled(p, d)
		})
	}
	m.endLocked(nil)
	m.c.publishLocked(m.cg)
}

// MemberLost records that the client of the member's current stream,
// relayed here by another broker, lost its connection: when the stream
// ends, the member stays for the session timeout (GroupMember.Close).
func (b *Broker) MemberLost(grp, id string) {
	c := b.groups
	c.mu.Lock()
	defer c.mu.Unlock()
	if cg := c.groups[grp]; cg != nil && cg.streams[id] != nil {
		cg.streams[id].lost = true
	}
}

// current says whether m is its member's current stream on a group this
// broker still coordinates; c.mu is held.
func (m *GroupMember) current() bool {
	return m.c.groups[m.group] == m.cg && m.cg.streams[m.id] == m
}

func (m *GroupMember) endLocked(err error) {
	select {
	case <-m.done:
		return
	default:
	}
	if m.cg.streams[m.id] == m {
		delete(m.cg.streams, m.id)
	}
	m.err = err
	close(m.done)
}

// partitionCounts returns every topic's partition count.
func (b *Broker) partitionCounts() map[string]int32 {
	counts := map[string]int32{}
	for _, t := range b.catalog.Topics() {
		counts[t.Name] = t.Partitions
	}
	return counts
}
