package client_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestAdminTopicsAndGroups drives every admin helper against one broker,
// and checks that refusals keep the broker's status.
func TestAdminTopicsAndGroups(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.addr)
	adm := client.NewAdmin(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	topic, err := adm.CreateTopic(ctx, "orders", 3, 1, map[string]string{"retention.ms": "3600000"})
	if err != nil {
		t.Fatal(err)
	}
	if topic.Name != "orders" || topic.Partitions != 3 || topic.ReplicationFactor != 1 || topic.Config["retention.ms"] != "3600000" || topic.TopicId == "" {
		t.Fatalf("created %v", topic)
	}
	if _, err := adm.CreateTopic(ctx, "orders", 1, 1, nil); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("create again: %v, want ALREADY_EXISTS", err)
	}
	if _, err := adm.CreateTopic(ctx, "bad name", 1, 1, nil); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("create %q: %v, want INVALID_ARGUMENT", "bad name", err)
	}
	if _, err := adm.CreateTopic(ctx, "payments", 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, t := range topics {
		names = append(names, t.Name)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"orders", "payments"}) {
		t.Fatalf("listed %v", names)
	}
	desc, err := adm.DescribeTopic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Topic.TopicId != topic.TopicId || len(desc.Partitions) != 3 || desc.Partitions[2].Leader != 1 {
		t.Fatalf("described %v", desc)
	}
	if _, err := adm.DescribeTopic(ctx, "nope"); status.Code(err) != codes.NotFound {
		t.Fatalf("describe nope: %v, want NOT_FOUND", err)
	}
	cluster, err := adm.DescribeCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cluster.Brokers) != 1 || cluster.Brokers[0].Address != b.addr || cluster.ControllerId != 1 {
		t.Fatalf("cluster %v", cluster)
	}
	if err := adm.ReassignPartition(ctx, "orders", 0, 7); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("reassign to a broker that is none: %v, want INVALID_ARGUMENT", err)
	}
	if err := adm.ReassignPartition(ctx, "orders", 0, 1); err != nil {
		t.Fatalf("reassign to the replicas it has: %v", err)
	}

	// Groups: a group with committed offsets and no members.
	p := c.Producer()
	for i := range 30 {
		if _, err := p.ProduceSync(ctx, &client.Record{Topic: "orders", Partition: new(int32(int32(i % 3))), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	if _, err := c.Commit.Commit(ctx, &runnelv1.CommitRequest{Group: "billing", Topic: "orders",
		Offsets: []*runnelv1.PartitionOffset{{Partition: 0, Offset: 4}, {Partition: 1, Offset: 10}}}); err != nil {
		t.Fatal(err)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Name != "billing" || groups[0].CoordinatorId != 1 {
		t.Fatalf("groups %v", groups)
	}
	g, err := adm.DescribeGroup(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if g.State != runnelv1.GroupState_GROUP_STATE_EMPTY || committedOffsets(g.Partitions) != "orders/0=4 orders/1=10" {
		t.Fatalf("group %v: committed %s", g, committedOffsets(g.Partitions))
	}
	if got := lags(g.Partitions); got != "orders/0:6 orders/1:0" {
		t.Fatalf("lags %s", got)
	}

	for _, tc := range []struct {
		to   client.OffsetReset
		want string
	}{
		{client.ResetToEarliest().DryRun(), "orders/0=0 orders/1=0 orders/2=0"},
		{client.ResetToLatest().Partitions(0).DryRun(), "orders/0=10"},
		{client.ResetToOffset(7).Partitions(1, 2).DryRun(), "orders/1=7 orders/2=7"},
		{client.ResetToOffset(99).Partitions(1).DryRun(), "orders/1=10"},
		{client.ResetToTime(time.Now().Add(time.Hour)).Partitions(0).DryRun(), "orders/0=10"},
		{client.ResetShiftBy(-3).Partitions(0, 1).DryRun(), "orders/0=1 orders/1=7"},
	} {
		parts, err := adm.ResetOffsets(ctx, "billing", "orders", tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if got := committedOffsets(parts); got != tc.want {
			t.Errorf("reset %+v: %s, want %s", tc.to, got, tc.want)
		}
	}
	if g, err := adm.DescribeGroup(ctx, "billing"); err != nil || committedOffsets(g.Partitions) != "orders/0=4 orders/1=10" {
		t.Fatalf("after dry runs: %v %v", committedOffsets(g.GetPartitions()), err)
	}
	if _, err := adm.ResetOffsets(ctx, "billing", "orders", client.ResetShiftBy(2).Partitions(0)); err != nil {
		t.Fatal(err)
	}
	if g, err := adm.DescribeGroup(ctx, "billing"); err != nil || committedOffsets(g.Partitions) != "orders/0=6 orders/1=10" {
		t.Fatalf("after shifting partition 0 by 2: %v %v", committedOffsets(g.GetPartitions()), err)
	}
	if _, err := adm.ResetOffsets(ctx, "billing", "orders", client.OffsetReset{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("reset to nothing: %v, want INVALID_ARGUMENT", err)
	}
	if err := adm.DeleteGroup(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	if groups, err := adm.ListGroups(ctx); err != nil || len(groups) != 0 {
		t.Fatalf("groups after delete: %v %v", groups, err)
	}
	if err := adm.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := adm.DeleteTopic(ctx, "orders"); status.Code(err) != codes.NotFound {
		t.Fatalf("delete again: %v, want NOT_FOUND", err)
	}
}

// committedOffsets shows each partition's committed offset, those with one.
func committedOffsets(parts []*runnelv1.GroupPartition) string {
	var out []string
	for _, p := range parts {
		if p.CommittedOffset >= 0 {
			out = append(out, fmt.Sprintf("%s/%d=%d", p.Topic, p.Partition, p.CommittedOffset))
		}
	}
	return strings.Join(out, " ")
}

func lags(parts []*runnelv1.GroupPartition) string {
	var out []string
	for _, p := range parts {
		if p.CommittedOffset >= 0 {
			out = append(out, fmt.Sprintf("%s/%d:%d", p.Topic, p.Partition, p.Lag))
		}
	}
	return strings.Join(out, " ")
}

// TestAdminFailsOver: in a 3-broker cluster, the admin helpers go on
// when the broker the client bootstrapped from is killed (its port
// refuses) and when the one that answered last stops answering (SIGSTOP:
// connections open, no answer), and say what each broker did when none
// answers.
func TestAdminFailsOver(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(ctx, []string{brokers[0].addr, brokers[1].addr, brokers[2].addr}, client.WithRequestTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	adm := client.NewAdmin(c)
	for _, name := range []string{"events", "gone"} {
		if _, err := adm.CreateTopic(ctx, name, 3, 3, nil); err != nil {
			t.Fatal(err)
		}
	}
	if last := client.LastAdminBroker(adm); last != brokers[0].addr {
		t.Fatalf("answered by %s, want the bootstrap broker %s", last, brokers[0].addr)
	}

	brokers[0].kill()
	topics, err := adm.ListTopics(ctx)
	if err != nil || len(topics) != 2 {
		t.Fatalf("list topics with broker 1 dead: %v %v", topics, err)
	}
	if last := client.LastAdminBroker(adm); last != brokers[1].addr {
		t.Fatalf("answered by %s, want the next bootstrap address %s", last, brokers[1].addr)
	}
	desc, err := adm.DescribeTopic(ctx, "events")
	if err != nil || len(desc.Partitions) != 3 {
		t.Fatalf("describe topic with broker 1 dead: %v %v", desc, err)
	}
	cluster, err := adm.DescribeCluster(ctx)
	if err != nil || len(cluster.Brokers) != 3 {
		t.Fatalf("describe cluster with broker 1 dead: %v %v", cluster, err)
	}
	// NB: broker 1 may have been the controller: the survivors elect
	// another before a delete can go through.
	var deleteErr error
	waitUntil(t, time.Minute, "delete topic with broker 1 dead", func() bool {
		err := adm.DeleteTopic(ctx, "gone")
		if err == nil || (deleteErr != nil && status.Code(err) == codes.NotFound) {
			return true
		}
		deleteErr = err
		return status.Code(err) != codes.Unavailable
	})
	if desc, err := adm.DescribeTopic(ctx, "gone"); status.Code(err) != codes.NotFound {
		t.Fatalf("describe a deleted topic: %v %v, want NOT_FOUND", desc, err)
	}

	// NB: each survivor applies the delete before one is stopped. A
	// follower learns that an entry committed from the leader's next
	// message; the one left answering alone could never learn it, and
	// would list the deleted topic (as a Kafka broker's metadata, its
	// view lags the controller's).
	for _, b := range brokers[1:] {
		direct, err := client.Dial(b.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close()
		waitUntil(t, time.Minute, b.addr+" to apply the delete", func() bool {
			resp, err := direct.Admin.ListTopics(ctx, &runnelv1.ListTopicsRequest{})
			return err == nil && len(resp.Topics) == 1
		})
	}

	// The broker that answered last stops answering: the next call waits
	// the request timeout for it, then goes on to the next.
	stopped, answering := brokers[1], brokers[2]
	if client.LastAdminBroker(adm) == answering.addr {
		stopped, answering = answering, stopped
	}
	sigstop(t, stopped)
	start := time.Now()
	topics, err = adm.ListTopics(ctx)
	if err != nil || len(topics) != 1 {
		t.Fatalf("list topics with %s stopped: %v %v", stopped.addr, topics, err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("list topics took %s: it did not try the stopped broker first", took)
	}
	if last := client.LastAdminBroker(adm); last != answering.addr {
		t.Fatalf("answered by %s, want %s", last, answering.addr)
	}

	// No broker answers: the error says what each did.
	sigstop(t, answering)
	_, err = adm.ListTopics(ctx)
	if code := status.Code(err); code != codes.DeadlineExceeded {
		t.Fatalf("list topics, no broker answering: %v, want DEADLINE_EXCEEDED", err)
	}
	for _, b := range brokers {
		if !strings.Contains(err.Error(), b.addr) {
			t.Errorf("the error does not name %s: %v", b.addr, err)
		}
	}
	t.Logf("no broker answering: %v", err)
}

// sigstop stops a broker's process, until the test ends: its connections
// stay open and nothing answers on them.
func sigstop(t *testing.T, b *broker) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.cmd.Process.Signal(syscall.SIGCONT) })
	// NB: the signal is delivered asynchronously: until the kernel shows
	// the process stopped, it may still answer a call.
	stat := fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid)
	waitUntil(t, 10*time.Second, "the broker to be stopped", func() bool {
		data, err := os.ReadFile(stat)
		if err != nil {
			return false
		}
		// NB: the state follows the command name, which is in parentheses.
		fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		return len(fields) > 0 && fields[0] == "T"
	})
}

// fakeAdmin is an AdminService that answers DescribeCluster with the
// brokers it is told, and CreateTopic as create says.
type fakeAdmin struct {
	runnelv1.UnimplementedAdminServiceServer
	brokers []*runnelv1.Broker
	create  func(ctx context.Context) error
}

func (f *fakeAdmin) DescribeCluster(context.Context, *runnelv1.DescribeClusterRequest) (*runnelv1.DescribeClusterResponse, error) {
	return &runnelv1.DescribeClusterResponse{Brokers: f.brokers}, nil
}

func (f *fakeAdmin) CreateTopic(ctx context.Context, req *runnelv1.CreateTopicRequest) (*runnelv1.CreateTopicResponse, error) {
	if err := f.create(ctx); err != nil {
		return nil, err
	}
	return &runnelv1.CreateTopicResponse{Topic: &runnelv1.Topic{Name: req.Name}}, nil
}

// serveFake serves f on a port of its own until the test ends; stop
// stops it, closing the port.
func serveFake(t *testing.T, f *fakeAdmin) (addr string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	runnelv1.RegisterAdminServiceServer(s, f)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String(), s.Stop
}

// TestAdminSaysAnEarlierAttemptMayHaveDoneIt: a create that failed over
// from a broker that did not answer in time, and then finds the topic,
// says the first attempt may have created it; one that failed over from
// a port that refused (nothing was sent) does not. Either way the error
// is the broker's status.
func TestAdminSaysAnEarlierAttemptMayHaveDoneIt(t *testing.T) {
	exists := func(context.Context) error { return status.Error(codes.AlreadyExists, `topic "t" already exists`) }
	silent := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	a := &fakeAdmin{create: silent}
	b := &fakeAdmin{create: exists}
	addrA, stopA := serveFake(t, a)
	addrB, _ := serveFake(t, b)
	a.brokers = []*runnelv1.Broker{{NodeId: 1, Address: addrA}, {NodeId: 2, Address: addrB}}
	b.brokers = a.brokers
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(ctx, []string{addrA, addrB}, client.WithRequestTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	adm := client.NewAdmin(c)
	_, err = adm.CreateTopic(ctx, "t", 1, 1, nil)
	if status.Code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), "an earlier attempt may have done it: "+addrA+": no answer within 300ms") {
		t.Fatalf("create after a silent broker: %v", err)
	}
	t.Logf("after a silent broker: %v", err)

	// A refused port: B answered last, so make A the last again, then
	// close it and wait until the client's connection to it knows.
	client.SetLastAdminBroker(adm, addrA)
	stopA()
	conn := c.Conn() // A's: the bootstrap broker's
	for st := conn.GetState(); st != connectivity.TransientFailure; st = conn.GetState() {
		conn.Connect()
		if !conn.WaitForStateChange(ctx, st) {
			t.Fatal(ctx.Err())
		}
	}
	_, err = adm.CreateTopic(ctx, "t", 1, 1, nil)
	if status.Code(err) != codes.AlreadyExists || strings.Contains(err.Error(), "may have done it") {
		t.Fatalf("create after a refusing port: %v", err)
	}
	if last := client.LastAdminBroker(adm); last != addrB {
		t.Fatalf("last answered %s, want %s: a refusal is an answer too", last, addrB)
	}
}
