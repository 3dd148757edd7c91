package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/quota"
	"github.com/runnel-broker/runnel/server/internal/tokens"
)

// startWithTokens starts a broker with a token file (admin, alice, bob)
// and no ACLs enforced: every principal (anonymous too) may do
// everything.
func startWithTokens(t *testing.T) *testBroker {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	lines := []string{tokens.Line("User:admin", "t-admin"), tokens.Line("User:alice", "t-alice"), tokens.Line("User:bob", "t-bob")}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startBrokerWith(t, "", func(c *Config) { c.TokenFile, c.AllowAnonymous = path, true })
}

func (b *testBroker) setQuota(q *runnelv1.Quota) {
	b.t.Helper()
	if _, err := b.client.Admin.SetQuota(as("t-admin"), &runnelv1.SetQuotaRequest{Quota: q}); err != nil {
		b.t.Fatalf("set quota %v: %v", q, err)
	}
}

// throttled is the time the broker throttled principal for kind, as
// its /metrics says.
func (b *testBroker) throttled(principal string, k quota.Kind) float64 {
	return scrape(b.t, b)[fmt.Sprintf("runnel_quota_throttle_seconds_total{kind=%q,principal=%q}", k, principal)]
}

// TestQuotaAdmin: quotas are set, listed (the default first) and deleted
// through AdminService, ALTER and DESCRIBE on the cluster; bad ones are
// INVALID_ARGUMENT saying what to fix.
func TestQuotaAdmin(t *testing.T) {
	b := startSecured(t, false)
	adm := b.client.Admin
	admin, alice := as("t-admin"), as("t-alice")
	b.setQuota(&runnelv1.Quota{Principal: "User:alice", ProduceBytesPerSec: ptr(1e6), RequestsPerSec: ptr(100.0)})
	b.setQuota(&runnelv1.Quota{IsDefault: true, ConsumeBytesPerSec: ptr(5e5)})
	resp, err := adm.ListQuotas(admin, &runnelv1.ListQuotasRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(resp.Quotas)
	if len(resp.Quotas) != 2 || !resp.Quotas[0].IsDefault || resp.Quotas[0].GetConsumeBytesPerSec() != 5e5 ||
		resp.Quotas[1].Principal != "User:alice" || resp.Quotas[1].GetProduceBytesPerSec() != 1e6 ||
		resp.Quotas[1].GetRequestsPerSec() != 100 || resp.Quotas[1].ConsumeBytesPerSec != nil {
		t.Fatalf("quotas listed: %s", got)
	}
	for _, c := range []struct {
		q    *runnelv1.Quota
		want string
	}{
		{nil, "no quota"},
		{&runnelv1.Quota{Principal: "User:alice", ProduceBytesPerSec: ptr(-1.0)}, "produce_bytes_per_sec is -1: give a positive rate"},
		{&runnelv1.Quota{Principal: "User:alice", RequestsPerSec: ptr(0.0)}, "requests_per_sec is 0: give a positive rate"},
		{&runnelv1.Quota{Principal: "User:alice"}, "no rate set"},
		{&runnelv1.Quota{Principal: "alice", RequestsPerSec: ptr(1.0)}, `principal "alice" is not TYPE:NAME`},
		{&runnelv1.Quota{RequestsPerSec: ptr(1.0)}, "no principal"},
		{&runnelv1.Quota{Principal: "User:alice", IsDefault: true, RequestsPerSec: ptr(1.0)}, "both the default and principal"},
	} {
		_, err := adm.SetQuota(admin, &runnelv1.SetQuotaRequest{Quota: c.q})
		wantStatus(t, fmt.Sprintf("setting %v", c.q), err, codes.InvalidArgument, c.want)
	}
	_, err = adm.SetQuota(alice, &runnelv1.SetQuotaRequest{Quota: &runnelv1.Quota{Principal: "User:alice", RequestsPerSec: ptr(1e9)}})
	wantStatus(t, "alice raises her quota", err, codes.PermissionDenied, `principal "User:alice" is not allowed to alter on the cluster`)
	_, err = adm.ListQuotas(alice, &runnelv1.ListQuotasRequest{})
	wantStatus(t, "alice lists quotas", err, codes.PermissionDenied, "not allowed to describe on the cluster")
	for _, want := range []bool{true, false} {
		d, err := adm.DeleteQuota(admin, &runnelv1.DeleteQuotaRequest{Principal: "User:alice"})
		if err != nil || d.Deleted != want {
			t.Fatalf("deleting alice's quota: %v, %v; want deleted %v", d, err, want)
		}
	}
	if d, err := adm.DeleteQuota(admin, &runnelv1.DeleteQuotaRequest{IsDefault: true}); err != nil || !d.Deleted {
		t.Fatalf("deleting the default: %v, %v", d, err)
	}
	if resp, err := adm.ListQuotas(admin, &runnelv1.ListQuotasRequest{}); err != nil || len(resp.Quotas) != 0 {
		t.Fatalf("after deleting them all: %v, %v", resp, err)
	}
}

// produceRun sends n requests of size bytes, one at a time, as token to
// topic, and returns the error of the first that failed, if any.
func produceRun(b *testBroker, token, topic string, n, size int) error {
	stream, err := b.client.Produce.Produce(as(token))
	if err != nil {
		return err
	}
	defer stream.CloseSend()
	for i := range n {
		req := &runnelv1.ProduceRequest{Topic: topic, CorrelationId: uint64(i), Records: []*runnelv1.Record{{Value: make([]byte, size)}}}
		if err := stream.Send(req); err != nil {
			return err
		}
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if resp.Error != nil {
			return status.ErrorProto(resp.Error)
		}
	}
	return nil
}

// TestProduceQuotaThrottles: a producer over its produce quota is
// throttled, and what it had acknowledged over the run is bounded by the
// quota's rate times the time taken plus a burst; another principal
// producing on the same broker at the same time, with no quota, is not
// throttled at all.
func TestProduceQuotaThrottles(t *testing.T) {
	const (
		rate = 50_000.0 // bytes/s: a burst of 50 KB, then ~1 s per 50 KB
		size = 5_000
		n    = 30
	)
	b := startWithTokens(t)
	b.createTopic("a", 1, nil)
	b.createTopic("b", 1, nil)
	b.setQuota(&runnelv1.Quota{Principal: "User:alice", ProduceBytesPerSec: ptr(rate)})

	var wg sync.WaitGroup
	var bobErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		bobErr = produceRun(b, "t-bob", "b", n, size)
	}()
	start := time.Now()
	err := produceRun(b, "t-alice", "a", n, size)
	elapsed := time.Since(start)
	wg.Wait()
	if err != nil || bobErr != nil {
		t.Fatalf("alice: %v; bob: %v", err, bobErr)
	}
	acked := scrape(t, b)[`runnel_produced_bytes_total{topic="a"}`]
	if acked < n*size {
		t.Fatalf("alice's acknowledged bytes: %v, want at least %d", acked, n*size)
	}
	if limit := rate*elapsed.Seconds() + rate*quota.Burst.Seconds(); acked > limit {
		t.Fatalf("alice had %v bytes acknowledged in %v: more than %v, her quota's", acked, elapsed, limit)
	}
	if got := b.throttled("User:alice", quota.Produce); got <= 0 {
		t.Fatalf("alice was throttled %vs, over her quota", got)
	}
	if got := b.throttled("User:bob", quota.Produce) + b.throttled("User:bob", quota.Request); got != 0 {
		t.Fatalf("bob, with no quota, was throttled %vs", got)
	}
}

// TestQuotaHardLimit: a request whose throttle would exceed the limit is
// refused RESOURCE_EXHAUSTED, naming the principal, the quota and its
// rate; the stream goes on, and a request within the quota passes.
func TestQuotaHardLimit(t *testing.T) {
	b := startWithTokens(t)
	b.createTopic("a", 1, nil)
	b.setQuota(&runnelv1.Quota{Principal: "User:alice", ProduceBytesPerSec: ptr(1000.0)})
	stream, err := b.client.Produce.Produce(as("t-alice"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		size int
		code codes.Code
	}{{40_000, codes.ResourceExhausted}, {500, codes.OK}} {
		if err := stream.Send(&runnelv1.ProduceRequest{Topic: "a", Records: []*runnelv1.Record{{Value: make([]byte, c.size)}}}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got := status.FromProto(resp.Error)
		if got.Code() != c.code {
			t.Fatalf("request %d (%d bytes): %v, want %v", i, c.size, got.Err(), c.code)
		}
		if c.code == codes.ResourceExhausted {
			wantStatus(t, "40 KB at 1000 B/s", got.Err(), codes.ResourceExhausted, `principal "User:alice" is over its produce quota of 1000 bytes/s`)
		}
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("the stream's end: %v", err)
	}
	if got := scrape(t, b)[`runnel_quota_exceeded_total{kind="produce"}`]; got != 1 {
		t.Fatalf("runnel_quota_exceeded_total{kind=produce} is %v, want 1", got)
	}
}

// TestRequestQuotaHardLimit: a call whose request-rate throttle would
// pass the hard limit, a unary one or a Subscribe, is RESOURCE_EXHAUSTED
// at once, saying why; another principal's calls go on.
func TestRequestQuotaHardLimit(t *testing.T) {
	b := startWithTokens(t)
	b.createTopic("t", 1, nil)
	b.setQuota(&runnelv1.Quota{Principal: "User:alice", RequestsPerSec: ptr(0.01)})
	const why = `principal "User:alice" is over its request quota of 0.01 requests/s: this request would wait`
	_, err := b.client.Admin.DescribeCluster(as("t-alice"), &runnelv1.DescribeClusterRequest{})
	wantStatus(t, "a unary call at 0.01 requests/s", err, codes.ResourceExhausted, why)
	stream, err := b.client.Subscribe.Subscribe(as("t-alice"), &runnelv1.SubscribeRequest{Topic: "t"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantStatus(t, "a Subscribe at 0.01 requests/s", err, codes.ResourceExhausted, why)
	if _, err := b.client.Admin.DescribeCluster(as("t-bob"), &runnelv1.DescribeClusterRequest{}); err != nil {
		t.Fatalf("bob, with no quota: %v", err)
	}
	if got := scrape(t, b)[`runnel_quota_exceeded_total{kind="request"}`]; got != 2 {
		t.Fatalf("runnel_quota_exceeded_total{kind=request} is %v, want 2", got)
	}
}

// TestConsumeAndRequestQuotas: a subscriber over its consume quota is
// throttled, what it received bounded by the rate; a principal over its
// request rate has its unary calls throttled.
func TestConsumeAndRequestQuotas(t *testing.T) {
	const rate = 40_000.0
	b := startWithTokens(t)
	b.createTopic("t", 1, nil)
	if err := produceRun(b, "t-bob", "t", 20, 5_000); err != nil {
		t.Fatal(err)
	}
	b.setQuota(&runnelv1.Quota{Principal: "User:alice", ConsumeBytesPerSec: ptr(rate), RequestsPerSec: ptr(10.0)})

	start := time.Now()
	stream, err := b.client.Subscribe.Subscribe(as("t-alice"), &runnelv1.SubscribeRequest{Topic: "t", MaxBatchBytes: 6_000})
	if err != nil {
		t.Fatal(err)
	}
	received, records := 0, 0
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		received += len(resp.GetBatch().GetRecords()) * 5_000
		records += len(resp.GetBatch().GetRecords())
	}
	elapsed := time.Since(start)
	if records != 20 {
		t.Fatalf("alice read %d records, want 20", records)
	}
	if limit := rate*elapsed.Seconds() + rate*quota.Burst.Seconds(); float64(received) > limit {
		t.Fatalf("alice received %d bytes of values in %v: more than %v", received, elapsed, limit)
	}
	if got := b.throttled("User:alice", quota.Consume); got <= 0 {
		t.Fatalf("alice was throttled %vs, over her consume quota", got)
	}

	for range 15 { // a burst of 10, then throttled
		if _, err := b.client.Admin.DescribeCluster(as("t-alice"), &runnelv1.DescribeClusterRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.throttled("User:alice", quota.Request); got <= 0 {
		t.Fatalf("alice was throttled %vs, over her request rate", got)
	}
	if got := b.throttled("User:bob", quota.Consume) + b.throttled("User:bob", quota.Request); got != 0 {
		t.Fatalf("bob, with no quota, was throttled %vs", got)
	}
}

// TestDefaultQuota: a principal without a quota of its own takes the
// default; one with its own is not held to the default.
func TestDefaultQuota(t *testing.T) {
	b := startWithTokens(t)
	b.createTopic("t", 1, nil)
	b.setQuota(&runnelv1.Quota{IsDefault: true, RequestsPerSec: ptr(5.0)})
	b.setQuota(&runnelv1.Quota{Principal: "User:alice", RequestsPerSec: ptr(1e6)})
	for _, token := range []string{"t-alice", "t-bob"} {
		for range 8 {
			if _, err := b.client.Admin.DescribeCluster(as(token), &runnelv1.DescribeClusterRequest{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if bob, alice := b.throttled("User:bob", quota.Request), b.throttled("User:alice", quota.Request); bob <= 0 || alice != 0 {
		t.Fatalf("throttled: bob (the default) %vs, alice (her own) %vs", bob, alice)
	}
}

// TestQuotaOnTheClientListenerOnly: the broker a client calls throttles
// it; the broker it forwards the requests to does not account for them
// again, though the default quota there would apply to the forwarding
// stream's anonymous principal.
func TestQuotaOnTheClientListenerOnly(t *testing.T) {
	const rate = 20_000.0
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(tokens.Line("User:alice", "t-alice")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokers := startClusterWith(t, 2, func(c *Config) { c.TokenFile, c.AllowAnonymous = path, true })
	if _, err := brokers[0].client.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{
		Name: "single", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	owner := describe(t, brokers[0], "single").Partitions[0].Replicas[0]
	via, replica := brokers[0], brokers[1]
	if owner == 1 {
		via, replica = brokers[1], brokers[0]
	}
	if _, err := via.client.Admin.SetQuota(context.Background(), &runnelv1.SetQuotaRequest{Quota: &runnelv1.Quota{
		IsDefault: true, ProduceBytesPerSec: ptr(rate)}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the replica to have the quota", func() error {
		resp, err := replica.client.Admin.ListQuotas(context.Background(), &runnelv1.ListQuotasRequest{})
		if err != nil {
			return err
		}
		return is("quotas on the replica", len(resp.Quotas), 1)
	})
	if err := produceRun(via, "t-alice", "single", 8, 5_000); err != nil {
		t.Fatal(err)
	}
	if got := via.throttled("User:alice", quota.Produce); got <= 0 {
		t.Fatalf("the broker alice called throttled her %vs, over the default quota", got)
	}
	metrics := scrape(t, replica)
	for _, k := range quota.Kinds() {
		if got := metrics[fmt.Sprintf("runnel_quota_throttled_requests_total{kind=%q}", k)]; got != 0 {
			t.Fatalf("the replica, forwarded alice's requests, throttled %v %v requests", got, k)
		}
	}
}
