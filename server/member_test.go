package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// groupMember is one Subscribe stream that is a member of a group, read
// by a goroutine into responses.
type groupMember struct {
	t         *testing.T
	b         *testBroker
	cancel    context.CancelFunc
	responses chan *runnelv1.SubscribeResponse
	ended     chan error
	// What the latest assignment said, and the records read since.
	assignment *runnelv1.GroupAssignment
	owned      map[int32]bool // of the request's topic
	ownedAll   map[string]map[int32]bool
	// next is the offset after the last record read, by topic and
	// partition; first the first offset read.
	next, first map[string]map[int32]int64
	req         *runnelv1.SubscribeRequest
}

// at is the offset after the last record read of partition p of the
// request's topic, -1 before any.
func (m *groupMember) at(p int32) int64 {
	if n, ok := m.next[m.req.Topic][p]; ok {
		return n
	}
	return -1
}

func (b *testBroker) join(req *runnelv1.SubscribeRequest) *groupMember {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := b.client.Subscribe.Subscribe(ctx, req)
	if err != nil {
		b.t.Fatal(err)
	}
	m := &groupMember{t: b.t, b: b, cancel: cancel, responses: make(chan *runnelv1.SubscribeResponse, 1024),
		ended: make(chan error, 1), owned: map[int32]bool{}, next: map[string]map[int32]int64{}, first: map[string]map[int32]int64{}, req: req}
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				m.ended <- err
				return
			}
			m.responses <- resp
		}
	}()
	b.t.Cleanup(cancel)
	return m
}

// recv returns the next response, failing the test after 10 s.
func (m *groupMember) recv() *runnelv1.SubscribeResponse {
	m.t.Helper()
	select {
	case resp := <-m.responses:
		m.check(resp)
		return resp
	case err := <-m.ended:
		m.t.Fatalf("stream ended: %v", err)
	case <-time.After(10 * time.Second):
		m.t.Fatalf("no response in 10s (owning %v)", slices.Sorted(maps.Keys(m.owned)))
	}
	return nil
}

// check holds the stream to its promise: batches only of partitions the
// latest assignment gives, in offset order without gaps.
func (m *groupMember) check(resp *runnelv1.SubscribeResponse) {
	m.t.Helper()
	if a := resp.Assignment; a != nil {
		m.assignment = a
		owned := map[string]map[int32]bool{}
		for _, tp := range a.Partitions {
			owned[tp.Topic] = map[int32]bool{}
			for _, p := range tp.Partitions {
				owned[tp.Topic][p] = true
			}
		}
		for _, tp := range a.Revoked {
			for _, p := range tp.Partitions {
				if !m.ownedAll[tp.Topic][p] || owned[tp.Topic][p] {
					m.t.Fatalf("assignment revokes %s/%d, which it did not own or still owns: %v", tp.Topic, p, a)
				}
			}
		}
		m.ownedAll = owned
		m.owned = maps.Clone(owned[m.req.Topic])
		if m.owned == nil {
			m.owned = map[int32]bool{}
		}
		return
	}
	topic, p := resp.Batch.Topic, resp.Batch.Partition
	if !m.ownedAll[topic][p] {
		m.t.Fatalf("batch of %s/%d, not in the assignment %v", topic, p, m.assignment)
	}
	if m.next[topic] == nil {
		m.next[topic], m.first[topic] = map[int32]int64{}, map[int32]int64{}
	}
	if _, ok := m.first[topic][p]; !ok && len(resp.Batch.Records) > 0 {
		m.first[topic][p] = resp.Batch.Records[0].Offset
	}
	for _, r := range resp.Batch.Records {
		if n, ok := m.next[topic][p]; ok && r.Offset != n {
			m.t.Fatalf("%s/%d: offset %d after %d", topic, p, r.Offset, n-1)
		}
		m.next[topic][p] = r.Offset + 1
	}
}

// until reads responses until cond holds of the member.
func (m *groupMember) until(what string, cond func() bool) {
	m.t.Helper()
	for !cond() {
		if m.recv() == nil {
			m.t.Fatalf("stream ended before %s", what)
		}
	}
}

// commitOwned commits, as the member, what it read of partitions.
func (m *groupMember) commit(topic string, partitions ...int32) error {
	req := &runnelv1.CommitRequest{Group: m.assignment.Group, Topic: topic,
		MemberId: m.assignment.MemberId, MemberEpoch: m.assignment.MemberEpoch}
	for _, p := range partitions {
		req.Offsets = append(req.Offsets, &runnelv1.PartitionOffset{Partition: p, Offset: m.next[topic][p]})
	}
	_, err := m.b.client.Commit.Commit(context.Background(), req)
	return err
}

func ownedList(m *groupMember) []int32 { return slices.Sorted(maps.Keys(m.owned)) }

// producePerPartition writes n records to each partition.
func (b *testBroker) producePerPartition(topic string, partitions int32, n int) {
	b.t.Helper()
	for p := range partitions {
		var vals []string
		for i := range n {
			vals = append(vals, fmt.Sprintf("p%d-%d", p, i))
		}
		mustAck(b.t, b.produce(&runnelv1.ProduceRequest{Topic: topic, Partition: ptr(p), Records: records(vals...)}))
	}
}

// TestGroupSplitsPartitions: two members of a group share the topic's
// partitions, each record going to one; the partitions a second member
// takes move only once the first committed them, and the second starts
// at what the first committed; another group reads every record.
func TestGroupSplitsPartitions(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("orders", 4, nil)
	b.producePerPartition("orders", 4, 5)
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true}

	a := b.join(sub)
	a.until("a read everything", func() bool { return a.at(0) == 5 && a.at(1) == 5 && a.at(2) == 5 && a.at(3) == 5 })
	if got := ownedList(a); !slices.Equal(got, []int32{0, 1, 2, 3}) {
		t.Fatalf("the first member owns %v, want every partition", got)
	}
	first := a.assignment

	c := b.join(sub)
	c.until("c's first assignment", func() bool { return c.assignment != nil })
	if len(c.owned) != 0 {
		t.Fatalf("c owns %v before a gave anything up", ownedList(c))
	}
	a.until("a's revocation", func() bool { return len(a.owned) == 2 })
	revoked := a.assignment.Revoked[0].Partitions
	if a.assignment.MemberEpoch != first.MemberEpoch || a.assignment.GroupEpoch != first.GroupEpoch+1 {
		t.Fatalf("a revoking: epochs %d/%d, want member epoch %d kept and group epoch %d",
			a.assignment.MemberEpoch, a.assignment.GroupEpoch, first.MemberEpoch, first.GroupEpoch+1)
	}
	// NB: a read 5 records of each and committed none: until it commits,
	// the revoked partitions stay with it.
	for _, p := range revoked {
		mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "orders", Partition: ptr(p), Records: records("late")}))
	}
	if err := a.commit("orders", revoked...); err != nil {
		t.Fatalf("a commits what it read of the revoked partitions: %v", err)
	}
	c.until("c gets the revoked partitions", func() bool { return len(c.owned) == 2 })
	if got := ownedList(c); !slices.Equal(got, revoked) {
		t.Fatalf("c owns %v, want what a gave up, %v", got, revoked)
	}
	c.until("c reads the late records", func() bool { return c.at(revoked[0]) == 6 && c.at(revoked[1]) == 6 })
	if c.assignment.MemberEpoch != c.assignment.GroupEpoch {
		t.Fatalf("c at member epoch %d, group epoch %d", c.assignment.MemberEpoch, c.assignment.GroupEpoch)
	}
	a.until("a reaches the group epoch", func() bool { return a.assignment.MemberEpoch == a.assignment.GroupEpoch })

	// Every group sees every record.
	other, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "orders", Group: "h"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, recs := range other {
		n += len(recs)
	}
	if want := 4*5 + len(revoked); n != want {
		t.Fatalf("group h read %d records, want %d", n, want)
	}
}

// TestGroupIdleHandoff: with nothing delivered beyond the committed
// offsets, a joining member gets its partitions at once.
func TestGroupIdleHandoff(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("orders", 4, nil)
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true}
	a := b.join(sub)
	a.until("a owns every partition", func() bool { return len(a.owned) == 4 })
	c := b.join(sub)
	c.until("c owns two partitions", func() bool { return len(c.owned) == 2 })
	a.until("a owns two partitions", func() bool { return len(a.owned) == 2 })
	if slices.ContainsFunc(ownedList(a), func(p int32) bool { return c.owned[p] }) {
		t.Fatalf("a owns %v and c owns %v", ownedList(a), ownedList(c))
	}
	// A clean close leaves at once: a gets everything back.
	c.cancel()
	a.until("a owns every partition again", func() bool { return len(a.owned) == 4 })
}

// TestGroupFencesZombie: a member that does not finish with a partition
// taken from it within the rebalance timeout is removed; its stream ends,
// the partition moves, and its late commit is refused.
func TestGroupFencesZombie(t *testing.T) {
	b := startBrokerWith(t, "", func(c *Config) { c.GroupRebalanceTimeout = 500 * time.Millisecond })
	b.createTopic("orders", 2, nil)
	b.producePerPartition("orders", 2, 3)
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true}
	zombie := b.join(sub)
	zombie.until("the zombie read everything", func() bool { return zombie.at(0) == 3 && zombie.at(1) == 3 })
	c := b.join(sub)
	// The zombie is frozen: it reads nothing more and commits nothing.
	// Past the rebalance timeout it is removed, and c owns everything.
	c.until("c owns both partitions", func() bool { return len(c.owned) == 2 })
	select {
	case err := <-zombie.ended:
		wantCode(t, "the zombie's stream", err, codes.FailedPrecondition)
	case <-time.After(10 * time.Second):
		t.Fatal("the zombie's stream did not end")
	}
	err := zombie.commit("orders", 0, 1)
	wantCode(t, "the zombie's commit", err, codes.FailedPrecondition)
	committed, err := b.client.Commit.FetchCommitted(context.Background(), &runnelv1.FetchCommittedRequest{Group: "g", Topic: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if len(committed.Offsets) != 0 {
		t.Fatalf("the zombie's commit moved the group: %v", committed.Offsets)
	}
	// c starts where nothing was committed: at the log start.
	c.until("c reads both partitions", func() bool { return c.at(0) == 3 && c.at(1) == 3 })
}

// TestGroupStaticMember: a static member back within the session timeout
// is the same member with the same partitions, and nothing rebalances.
func TestGroupStaticMember(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("orders", 4, nil)
	a := b.join(&runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true, InstanceId: "pod-a"})
	c := b.join(&runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true, InstanceId: "pod-c"})
	c.until("c owns two partitions", func() bool { return len(c.owned) == 2 })
	a.until("a owns two partitions", func() bool { return len(a.owned) == 2 })
	before := c.assignment
	c.cancel()
	c2 := b.join(&runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true, InstanceId: "pod-c"})
	c2.until("c is back", func() bool { return c2.assignment != nil })
	got := c2.assignment
	if got.MemberId != before.MemberId || got.GroupEpoch != before.GroupEpoch || !slices.Equal(ownedList(c2), ownedList(c)) {
		t.Fatalf("back: member %s epoch %d owning %v; before: member %s epoch %d owning %v",
			got.MemberId, got.GroupEpoch, ownedList(c2), before.MemberId, before.GroupEpoch, ownedList(c))
	}
	// A second stream of the same instance replaces the first.
	c3 := b.join(&runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true, InstanceId: "pod-c"})
	c3.until("the newest stream is the member", func() bool { return c3.assignment != nil })
	select {
	case err := <-c2.ended:
		wantCode(t, "the replaced stream", err, codes.FailedPrecondition)
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced stream did not end")
	}
}

// TestGroupSeveralTopics: a member subscribes to two topics; the
// assignment covers both, and each batch names its topic.
func TestGroupSeveralTopics(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("orders", 2, nil)
	b.createTopic("payments", 1, nil)
	b.producePerPartition("orders", 2, 1)
	b.producePerPartition("payments", 1, 1)
	m := b.join(&runnelv1.SubscribeRequest{Topics: []string{"orders", "payments"}, Group: "g"})
	topics := map[string]int{}
	select {
	case err := <-m.ended:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("stream ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("without follow, the stream did not end")
	}
	// NB: the reader sent every response before the end.
	for len(m.responses) > 0 {
		resp := <-m.responses
		m.check(resp)
		if resp.Batch != nil {
			topics[resp.Batch.Topic] += len(resp.Batch.Records)
		} else if n := len(resp.Assignment.Partitions); n != 2 {
			t.Fatalf("the assignment covers %d topics, want 2: %v", n, resp.Assignment)
		}
	}
	if topics["orders"] != 2 || topics["payments"] != 1 {
		t.Fatalf("read %v, want 2 orders and 1 payment", topics)
	}
}

// TestGroupBadInput: member requests that cannot work get a status that
// says what to fix.
func TestGroupBadInput(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("orders", 2, nil)
	for _, tc := range []struct {
		name string
		req  *runnelv1.SubscribeRequest
		code codes.Code
	}{
		{"a start offset", &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", StartPosition: runnelv1.StartPosition_START_POSITION_OFFSET}, codes.InvalidArgument},
		{"topics without a group", &runnelv1.SubscribeRequest{Topics: []string{"orders"}}, codes.InvalidArgument},
		{"a member id with partitions", &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Partitions: []int32{0}, MemberId: "m"}, codes.InvalidArgument},
		{"no topic", &runnelv1.SubscribeRequest{Group: "g"}, codes.InvalidArgument},
		{"a missing topic", &runnelv1.SubscribeRequest{Topics: []string{"orders", "nope"}, Group: "g"}, codes.NotFound},
	} {
		_, err := b.readAll(tc.req)
		wantCode(t, tc.name, err, tc.code)
	}
	_, err := b.client.Commit.Commit(context.Background(), &runnelv1.CommitRequest{Group: "g", Topic: "orders",
		Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: 1}}, MemberEpoch: 3})
	wantCode(t, "a member epoch without a member id", err, codes.InvalidArgument)
	_, err = b.client.Commit.Commit(context.Background(), &runnelv1.CommitRequest{Group: "g", Topic: "orders",
		Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: 1}}, MemberId: "nobody", MemberEpoch: 3})
	wantCode(t, "a commit of an unknown member", err, codes.FailedPrecondition)
}

// TestGroupInCluster: members joining through different brokers form one
// group on its coordinator (their streams and commits relayed there); a
// commit of a partition another member owns is refused through any
// broker; and when the coordinator stops, the members re-attach through
// the others and go on from the committed offsets.
func TestGroupInCluster(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	brokers[0].createTopic("orders", 4, nil)
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true}
	a, c := brokers[0].join(sub), brokers[1].join(sub)
	// NB: idle, the partitions move at once.
	for _, m := range []*groupMember{a, c} {
		m.until("two partitions each", func() bool { return len(m.owned) == 2 })
	}
	brokers[2].producePerPartition("orders", 4, 5)
	for _, m := range []*groupMember{a, c} {
		m.until("two partitions each, read", func() bool {
			return len(m.owned) == 2 && !slices.ContainsFunc(ownedList(m), func(p int32) bool { return m.at(p) != 5 })
		})
		if err := m.commit("orders", ownedList(m)...); err != nil {
			t.Fatalf("commit through a broker: %v", err)
		}
	}
	desc, err := brokers[2].client.Admin.DescribeGroup(ctx, &runnelv1.DescribeGroupRequest{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Group.Members) != 2 || slices.ContainsFunc(desc.Group.Partitions, func(p *runnelv1.GroupPartition) bool { return p.CommittedOffset != 5 }) {
		t.Fatalf("DescribeGroup through a third broker: %v, want two members and every partition committed at 5", desc.Group)
	}
	// a commits one of c's partitions: refused, through the broker a uses.
	theirs := ownedList(c)[0]
	a.next["orders"][theirs] = 1
	err = a.commit("orders", theirs)
	wantCode(t, "a's commit of c's partition", err, codes.FailedPrecondition)

	coordinator := desc.Group.CoordinatorId
	ids := map[*groupMember]string{a: a.assignment.MemberId, c: c.assignment.MemberId}
	brokers[coordinator-1].stop()
	for _, m := range []*groupMember{a, c} {
		// NB: stop closes the test's client of the stopped broker.
		want := codes.Unavailable
		if m.b == brokers[coordinator-1] {
			want = codes.Canceled
		}
		select {
		case err := <-m.ended:
			wantCode(t, "a member's stream when its coordinator stops", err, want)
		case <-time.After(20 * time.Second):
			t.Fatal("a member's stream outlived its coordinator")
		}
	}
	var survivors []*testBroker
	for i, b := range brokers {
		if int32(i+1) != coordinator {
			survivors = append(survivors, b)
		}
	}
	var back []*groupMember
	for i, m := range []*groupMember{a, c} {
		again := proto.CloneOf(sub)
		again.MemberId = ids[m]
		var m2 *groupMember
		waitFor(t, 20*time.Second, "a member re-attached", func() error {
			m2 = survivors[i].join(again)
			select {
			case resp := <-m2.responses:
				m2.check(resp)
				return nil
			case err := <-m2.ended: // no coordinator yet
				return err
			case <-time.After(5 * time.Second):
				m2.cancel()
				return errors.New("no assignment in 5s")
			}
		})
		if m2.assignment.MemberId != ids[m] {
			t.Fatalf("re-attached as %s, want %s", m2.assignment.MemberId, ids[m])
		}
		back = append(back, m2)
	}
	// Each reads the partitions it gets from the committed offsets.
	// NB: the stopped broker led partitions too: retry until they moved.
	for p := range int32(4) {
		waitFor(t, 20*time.Second, "a produce after the failover", func() error {
			resp := survivors[0].produce(&runnelv1.ProduceRequest{Topic: "orders", Partition: ptr(p), Records: records("after")})
			if resp.Error != nil {
				return grpcstatus.ErrorProto(resp.Error)
			}
			return nil
		})
	}
	owned := map[int32]bool{}
	for _, m := range back {
		m.until("the members read the new records", func() bool {
			return len(m.owned) == 2 && !slices.ContainsFunc(ownedList(m), func(p int32) bool { return m.at(p) < 6 })
		})
		for p := range m.owned {
			owned[p] = true
			if first := m.first["orders"][p]; first != 5 {
				t.Errorf("partition %d: read from %d after the failover, want the committed offset, 5", p, first)
			}
		}
	}
	if len(owned) != 4 {
		t.Fatalf("the members own %v between them, want every partition", slices.Sorted(maps.Keys(owned)))
	}
}

// cutProxy forwards connections to target until cut, which closes them
// all as a network failure would: the broker sees its connection end
// without the client cancelling its streams first.
type cutProxy struct {
	lis   net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{lis: lis}
	go func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() { lis.Close(); p.cut() })
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// describeMember returns the group's view of one member, nil if it has
// none.
func describeMember(t *testing.T, b *testBroker, grp, id string) *runnelv1.GroupMemberInfo {
	t.Helper()
	desc, err := b.client.Admin.DescribeGroup(context.Background(), &runnelv1.DescribeGroupRequest{Group: grp})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range desc.Group.Members {
		if m.MemberId == id {
			return m
		}
	}
	return nil
}

// TestGroupMemberLost: a member whose connection is lost (no cancel, no
// FIN from its client) keeps its partitions for the session timeout, and
// back within it is the same member with the same partitions; gone for
// longer, it is removed and its partitions move.
func TestGroupMemberLost(t *testing.T) {
	b := startBrokerWith(t, "", func(c *Config) { c.GroupSessionTimeout = 2 * time.Second })
	b.createTopic("orders", 4, nil)
	proxy := startCutProxy(t, b.srv.Addr().String())
	far, err := client.Dial(proxy.lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true}
	a := (&testBroker{t: t, client: far}).join(sub)
	a.until("a owns every partition", func() bool { return len(a.owned) == 4 })
	c := b.join(sub)
	c.until("c owns two partitions", func() bool { return len(c.owned) == 2 })
	a.until("a owns two partitions", func() bool { return len(a.owned) == 2 })
	id, kept := a.assignment.MemberId, ownedList(a)

	proxy.cut()
	waitFor(t, 10*time.Second, "a detached", func() error {
		m := describeMember(t, b, "g", id)
		if m == nil {
			return fmt.Errorf("a is gone")
		}
		return is("a connected", m.Connected, false)
	})
	if m := describeMember(t, b, "g", id); m == nil || len(m.Assigned) != 1 || len(m.Assigned[0].Partitions) != 2 {
		t.Fatalf("detached, a is %v: want it still owning two partitions", m)
	}
	again := proto.CloneOf(sub)
	again.MemberId = id
	a2 := (&testBroker{t: t, client: far}).join(again) // NB: gRPC reconnects through the proxy
	a2.until("a back", func() bool { return a2.assignment != nil })
	if got := ownedList(a2); !slices.Equal(got, kept) || a2.assignment.GroupEpoch != a.assignment.GroupEpoch {
		t.Fatalf("back, a owns %v at group epoch %d; before %v at %d", got, a2.assignment.GroupEpoch, kept, a.assignment.GroupEpoch)
	}

	// Lost again, and gone past the session timeout: removed.
	proxy.cut()
	c.until("c owns everything", func() bool { return len(c.owned) == 4 })
	if m := describeMember(t, b, "g", id); m != nil {
		t.Fatalf("a is still a member: %v", m)
	}
}

// TestGroupRelayedMemberLost: a member whose stream another broker
// relays to the coordinator is kept, detached, when its own connection to
// that broker is lost, as a member of the coordinator's own would be.
func TestGroupRelayedMemberLost(t *testing.T) {
	brokers := startCluster(t, 3)
	brokers[0].createTopic("orders", 2, nil)
	list := func() *runnelv1.ListGroupsResponse {
		resp, err := brokers[0].client.Admin.ListGroups(context.Background(), &runnelv1.ListGroupsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true}
	first := brokers[0].join(sub)
	first.until("the first member's assignment", func() bool { return first.assignment != nil })
	coordinator := list().Groups[0].CoordinatorId
	relay := brokers[coordinator%3] // another broker
	proxy := startCutProxy(t, relay.srv.Addr().String())
	far, err := client.Dial(proxy.lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	a := (&testBroker{t: t, client: far}).join(sub)
	a.until("a owns a partition", func() bool { return len(a.owned) == 1 })
	proxy.cut()
	waitFor(t, 10*time.Second, "a detached on the coordinator", func() error {
		m := describeMember(t, brokers[0], "g", a.assignment.MemberId)
		if m == nil {
			return fmt.Errorf("a is gone: the relaying broker did not say it was lost")
		}
		return is("a connected", m.Connected, false)
	})
}

// TestGroupAutoCommit: with auto_commit_interval the broker commits, as
// the member, what it delivered an interval before, and a partition taken
// away moves once its last records are committed: the next owner starts
// after them, with no commit from the client.
func TestGroupAutoCommit(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	b.createTopic("orders", 2, nil)
	b.producePerPartition("orders", 2, 5)
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true, AutoCommitInterval: durationpb.New(200 * time.Millisecond)}
	a := b.join(sub)
	a.until("a read everything", func() bool { return a.at(0) == 5 && a.at(1) == 5 })
	waitFor(t, 10*time.Second, "a's records committed", func() error {
		resp, err := b.client.Commit.FetchCommitted(ctx, &runnelv1.FetchCommittedRequest{Group: "g", Topic: "orders"})
		if err != nil {
			return err
		}
		if len(resp.Offsets) != 2 || resp.Offsets[0].Offset != 5 || resp.Offsets[1].Offset != 5 {
			return fmt.Errorf("committed %v", resp.Offsets)
		}
		return nil
	})
	// NB: a reads one more record of each partition, and c joins before
	// its commit: the partition c gets moves once the broker committed it.
	b.producePerPartition("orders", 2, 1)
	a.until("a read the new records", func() bool { return a.at(0) == 6 && a.at(1) == 6 })
	c := b.join(sub)
	c.until("c owns a partition", func() bool { return len(c.owned) == 1 })
	p := ownedList(c)[0]
	b.producePerPartition("orders", 2, 1)
	c.until("c reads its partition", func() bool { return c.at(p) == 7 })
	if c.first["orders"][p] != a.at(p) {
		t.Fatalf("c started partition %d at %d, a had read up to %d", p, c.first["orders"][p], a.at(p))
	}

	for _, tc := range []struct {
		name string
		req  *runnelv1.SubscribeRequest
	}{
		{"too short", &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", AutoCommitInterval: durationpb.New(time.Millisecond)}},
		{"negative", &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", AutoCommitInterval: durationpb.New(-time.Second)}},
		{"not a member", &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Partitions: []int32{0}, AutoCommitInterval: durationpb.New(time.Second)}},
	} {
		_, err := b.readAll(tc.req)
		wantCode(t, "auto_commit_interval "+tc.name, err, codes.InvalidArgument)
	}
}

// TestGroupTopicDeleted: deleting one of a member's topics ends neither
// its stream nor its reading of the others.
func TestGroupTopicDeleted(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("orders", 1, nil)
	b.createTopic("doomed", 1, nil)
	m := b.join(&runnelv1.SubscribeRequest{Topics: []string{"orders", "doomed"}, Group: "g", Follow: true})
	m.until("m reads both topics", func() bool { return len(m.ownedAll) == 2 })
	if _, err := b.client.Admin.DeleteTopic(context.Background(), &runnelv1.DeleteTopicRequest{Name: "doomed"}); err != nil {
		t.Fatal(err)
	}
	m.until("the deleted topic leaves the assignment", func() bool { return len(m.ownedAll) == 1 })
	b.producePerPartition("orders", 1, 1)
	m.until("m reads orders still", func() bool { return m.next["orders"][0] == 1 })
}

// TestGroupAutoCommitOnClose: a member that auto-commits commits what it
// was sent when its stream closes, so that what it gives up moves at
// once, not at the rebalance timeout, and is not read again.
func TestGroupAutoCommitOnClose(t *testing.T) {
	b := startBrokerWith(t, "", func(c *Config) { c.GroupRebalanceTimeout = time.Minute })
	b.createTopic("orders", 2, nil)
	b.producePerPartition("orders", 2, 3)
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true, AutoCommitInterval: durationpb.New(time.Minute)}
	a := b.join(sub)
	a.until("a read everything", func() bool { return a.at(0) == 3 && a.at(1) == 3 })
	a.cancel()
	c := b.join(sub)
	c.until("c owns both partitions", func() bool { return len(c.owned) == 2 })
	b.producePerPartition("orders", 2, 1)
	c.until("c reads the new records", func() bool { return c.at(0) == 4 && c.at(1) == 4 })
	if c.first["orders"][0] != 3 || c.first["orders"][1] != 3 {
		t.Fatalf("c started at %v, want after what a was sent (3)", c.first["orders"])
	}
}

// TestGroupRecommitIsNoOp: a member may commit again, unchanged, the
// offset of a partition it gave up (a member leaving commits all it
// read); any other offset there is refused.
func TestGroupRecommitIsNoOp(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("orders", 2, nil)
	b.producePerPartition("orders", 2, 2)
	sub := &runnelv1.SubscribeRequest{Topic: "orders", Group: "g", Follow: true}
	a := b.join(sub)
	a.until("a read everything", func() bool { return a.at(0) == 2 && a.at(1) == 2 })
	if err := a.commit("orders", 0, 1); err != nil {
		t.Fatal(err)
	}
	c := b.join(sub)
	c.until("c owns a partition", func() bool { return len(c.owned) == 1 })
	gone := ownedList(c)[0]
	if err := a.commit("orders", 0, 1); err != nil {
		t.Fatalf("a commits again, unchanged, both partitions, one of them c's now: %v", err)
	}
	a.next["orders"][gone] = 1
	wantCode(t, "a moves c's partition back", a.commit("orders", gone), codes.FailedPrecondition)
}
