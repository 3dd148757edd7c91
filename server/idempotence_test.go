package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// idempotent is a request of an idempotent producer.
func idempotent(topic string, partition int32, id int64, epoch int32, seq int64, vals ...string) *runnelv1.ProduceRequest {
	return &runnelv1.ProduceRequest{Topic: topic, Partition: &partition, Records: records(vals...),
		ProducerId: id, ProducerEpoch: epoch, BaseSequence: seq}
}

// TestIdempotentProduce: through the API, a producer's retries are
// acknowledged with their first offsets and stored once; what breaks the
// sequence is FAILED_PRECONDITION, what misuses the fields
// INVALID_ARGUMENT, and a request without a producer id is appended as
// sent, however often.
func TestIdempotentProduce(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("idem", 2, nil)
	ctx := context.Background()
	ids := map[int64]bool{}
	for range 3 {
		r, err := b.client.Produce.InitProducer(ctx, &runnelv1.InitProducerRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if r.ProducerId <= 0 || ids[r.ProducerId] || r.ProducerEpoch != 0 {
			t.Fatalf("InitProducer gave id %d epoch %d; ids so far %v", r.ProducerId, r.ProducerEpoch, ids)
		}
		ids[r.ProducerId] = true
	}
	id := slices.Max(slices.Collect(func(yield func(int64) bool) {
		for id := range ids {
			if !yield(id) {
				return
			}
		}
	}))

	first := mustAck(t, b.produce(idempotent("idem", 1, id, 0, 0, "a", "b")))
	retries := b.produceAll(idempotent("idem", 1, id, 0, 0, "a", "b"), idempotent("idem", 1, id, 0, 2, "c"),
		idempotent("idem", 1, id, 0, 2, "c"), idempotent("idem", 1, id, 0, 0, "a", "b"))
	for i, want := range []int64{0, 2, 2, 0} {
		acks := mustAck(t, retries[i])
		if acks[0].BaseOffset != want || acks[0].Partition != 1 {
			t.Fatalf("request %d: acks %v, want offset %d in partition 1", i, acks, want)
		}
	}
	if first[0].RecordCount != 2 {
		t.Fatalf("first ack %v", first)
	}
	// Another partition counts its own sequence.
	mustAck(t, b.produce(idempotent("idem", 0, id, 0, 0, "other")))

	for _, c := range []struct {
		name string
		req  *runnelv1.ProduceRequest
		code codes.Code
		msg  string
	}{
		{"a gap", idempotent("idem", 1, id, 0, 9, "x"), codes.FailedPrecondition, "gap"},
		{"an old epoch", func() *runnelv1.ProduceRequest {
			mustAck(t, b.produce(idempotent("idem", 0, id, 1, 0, "epoch 1")))
			return idempotent("idem", 0, id, 0, 1, "x")
		}(), codes.FailedPrecondition, "fenced"},
		{"no partition", &runnelv1.ProduceRequest{Topic: "idem", Records: records("x"), ProducerId: id}, codes.InvalidArgument, "names its partition"},
		{"a negative id", idempotent("idem", 0, -5, 0, 0, "x"), codes.InvalidArgument, "negative"},
		{"a sequence without an id", idempotent("idem", 0, 0, 0, 3, "x"), codes.InvalidArgument, "need producer_id"},
	} {
		resp := b.produce(c.req)
		if resp.Error == nil {
			t.Fatalf("%s: acked %v", c.name, resp.Acks)
		}
		st := status.FromProto(resp.Error)
		if st.Code() != c.code || !strings.Contains(st.Message(), c.msg) {
			t.Fatalf("%s: %v, want %v saying %q", c.name, st, c.code, c.msg)
		}
	}

	// No producer id: today's behaviour, every request appended.
	p := int32(1)
	plain := &runnelv1.ProduceRequest{Topic: "idem", Partition: &p, Records: records("plain")}
	mustAck(t, b.produce(plain))
	mustAck(t, b.produce(plain))

	got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "idem", Partitions: []int32{1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "plain", "plain"}; !slices.Equal(values(got[1]), want) {
		t.Fatalf("partition 1 holds %q, want %q", values(got[1]), want)
	}
}

// TestIdempotentProduceAcrossRestartAndForwarding: a retry sent to a
// follower is forwarded and recognized by the leader, a compressed batch
// too; after the leader is stopped, the new leader recognizes them.
func TestIdempotentProduceAcrossRestartAndForwarding(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx := context.Background()
	if _, err := brokers[0].client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "idem", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var leader int32
	waitFor(t, 30*time.Second, "a leader for idem", func() error {
		leader = describe(t, brokers[0], "idem").Partitions[0].Leader
		if leader == 0 {
			return errors.New("no leader")
		}
		return nil
	})
	r, err := brokers[0].client.Produce.InitProducer(ctx, &runnelv1.InitProducerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := r.ProducerId
	mustAck(t, brokers[leader-1].produce(idempotent("idem", 0, id, 0, 0, "first")))
	follower := brokers[leader%3]
	if acks := mustAck(t, follower.produce(idempotent("idem", 0, id, 0, 0, "first"))); acks[0].BaseOffset != 0 {
		t.Fatalf("a retry through a follower: %v, want offset 0", acks)
	}
	// A compressed batch goes to the leader as sent.
	p := int32(0)
	zreq := &runnelv1.ProduceRequest{Topic: "idem", Partition: &p, ProducerId: id, BaseSequence: 1,
		CompressedRecords: compress(t, compression.LZ4, stamped("z1", "z2"))}
	if acks := mustAck(t, follower.produce(zreq)); acks[0].BaseOffset != 1 || acks[0].RecordCount != 2 {
		t.Fatalf("a compressed batch through a follower: %v, want offset 1", acks)
	}
	brokers[leader-1].stop()
	waitFor(t, 30*time.Second, "a retry to be acknowledged by a new leader", func() error {
		resp := follower.produce(idempotent("idem", 0, id, 0, 0, "first"))
		if resp.Error != nil {
			return status.ErrorProto(resp.Error)
		}
		return is("offset", resp.Acks[0].BaseOffset, int64(0))
	})
	if acks := mustAck(t, follower.produce(zreq)); acks[0].BaseOffset != 1 {
		t.Fatalf("a retry of the compressed batch on the new leader: %v, want offset 1", acks)
	}
	mustAck(t, follower.produce(idempotent("idem", 0, id, 0, 3, "second")))
	if got := readValues(t, follower, "idem"); !slices.Equal(got, []string{"first", "z1", "z2", "second"}) {
		t.Fatalf("the log holds %q, want each record once", got)
	}
}
