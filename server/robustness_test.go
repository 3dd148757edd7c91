package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/catalog"
)

// TestForeignDirectoriesAreLeftAlone starts a broker on a data directory
// holding things that are not partitions: they must survive.
func TestForeignDirectoriesAreLeftAlone(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"lost+found", "src", "orders-0"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "precious.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := startBroker(t, dir)
	b.stop()
	for _, d := range []string{"lost+found", "src", "orders-0"} {
		if _, err := os.Stat(filepath.Join(dir, d, "precious.txt")); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}

// TestTimestampStartUnderLoad subscribes at a time after every record
// while producers append: the start is the high watermark, never an
// offset past it.
func TestTimestampStartUnderLoad(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("ts", 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			st, err := b.client.Produce.Produce(ctx)
			if err != nil {
				return
			}
			go func() {
				for {
					if _, err := st.Recv(); err != nil {
						return
					}
				}
			}()
			for ctx.Err() == nil {
				if st.Send(&runnelv1.ProduceRequest{Topic: "ts", Records: records("a")}) != nil {
					return
				}
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, 10*time.Second, "records to arrive", func() error {
		if hw := describePartition(t, b, "ts", 0).HighWatermark; hw <= 100 {
			return fmt.Errorf("high watermark %d, want over 100", hw)
		}
		return nil
	})
	for i := range 100 {
		_, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "ts",
			StartPosition: runnelv1.StartPosition_START_POSITION_TIMESTAMP, StartTime: timestamppb.New(time.Now().Add(time.Hour))})
		if err != nil {
			t.Fatalf("subscription %d at a future time under load: %v", i, err)
		}
	}
}

// TestShutdownWithOpenProducer checks that an open produce stream does not
// hold shutdown up: it ends with Unavailable once its acks are out.
func TestShutdownWithOpenProducer(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("x", 1, nil)
	st, err := b.client.Produce.Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&runnelv1.ProduceRequest{Topic: "x", Records: records("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > b.srv.cfg.ShutdownTimeout/2 {
		t.Fatalf("shutdown with an idle producer took %v", took)
	}
	_, err = st.Recv()
	wantCode(t, "producer at shutdown", err, codes.Unavailable)
}

// TestLargeBatchIsSplitForReaders produces one request of many small
// records and reads it back in responses of at most max_batch_bytes.
func TestLargeBatchIsSplitForReaders(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("big", 1, nil)
	const n = 50000
	recs := make([]*runnelv1.Record, n)
	for i := range recs {
		recs[i] = &runnelv1.Record{Value: make([]byte, 90)}
	}
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "big", Records: recs}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := b.client.Subscribe.Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: "big", MaxBatchBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	next, responses := int64(0), 0
	for next < n {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %d records: %v", next, err)
		}
		responses++
		for _, r := range resp.Batch.Records {
			if r.Offset != next {
				t.Fatalf("offset %d, want %d", r.Offset, next)
			}
			next++
		}
	}
	if responses < n*100/(64<<10) {
		t.Fatalf("%d records came in %d responses: max_batch_bytes not applied", n, responses)
	}
}

// rawCodec sends []byte as the message, to put malformed requests on the
// wire.
type rawCodec struct{}

// rawProduceStream opens a Produce stream that sends and receives the
// bytes it is given, encoded by hand.
func (b *testBroker) rawProduceStream() (grpc.ClientStream, error) {
	return b.client.Conn().NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
		"/runnel.v1.ProduceService/Produce", grpc.ForceCodecV2(rawCodec{}))
}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// TestMalformedProduceRequest sends requests that no protobuf library
// would encode: each gets InvalidArgument and the stream stays open.
func TestMalformedProduceRequest(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("t", 1, nil)
	stream, err := b.rawProduceStream()
	if err != nil {
		t.Fatal(err)
	}
	badTopic := protowire.AppendTag(nil, 1, protowire.BytesType)
	badTopic = protowire.AppendBytes(badTopic, []byte{0xff, 0xfe})
	truncated := protowire.AppendTag(nil, 3, protowire.BytesType)
	truncated = protowire.AppendVarint(truncated, 100)
	good := protowire.AppendTag(nil, 1, protowire.BytesType)
	good = protowire.AppendString(good, "t")
	good = protowire.AppendTag(good, 3, protowire.BytesType)
	good = protowire.AppendBytes(good, protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte("v")))
	for _, msg := range [][]byte{badTopic, truncated, good} {
		if err := stream.SendMsg(&msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []codes.Code{codes.InvalidArgument, codes.InvalidArgument, codes.OK} {
		var raw []byte
		if err := stream.RecvMsg(&raw); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		var resp runnelv1.ProduceResponse
		if err := proto.Unmarshal(raw, &resp); err != nil {
			t.Fatal(err)
		}
		if got := status.FromProto(resp.Error).Code(); got != want {
			t.Fatalf("response %d: %v (%v), want %v", i, got, resp.Error, want)
		}
	}
}

// TestLongestTopicNameSurvivesDeleteAndRestart creates a topic with the
// longest legal name, produces, deletes it and restarts: every file name
// derived from the topic must fit NAME_MAX. (That the largest partition
// number fits as well is checked at compile time, next to partitionName.)
func TestLongestTopicNameSurvivesDeleteAndRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	name := strings.Repeat("n", catalog.MaxTopicNameLength)
	const partitions = 2
	b.createTopic(name, partitions, nil)
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: name, Partition: ptr(int32(partitions - 1)), Records: records("x")}))
	if _, err := b.client.Admin.DeleteTopic(context.Background(), &runnelv1.DeleteTopicRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	b.stop()
	b = startBroker(t, dir)
	b.createTopic("after", 1, nil)
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "after", Records: records("y")}))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name[:10]) {
			t.Fatalf("%s is left in the data directory", e.Name())
		}
	}
}

// TestClusterIDFile checks the cluster.id a broker writes on first start:
// complete, and no temporary file left from writing it durably.
func TestClusterIDFile(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	id, err := os.ReadFile(filepath.Join(dir, "cluster.id"))
	if err != nil {
		t.Fatal(err)
	}
	if string(id) != b.srv.broker.ClusterID() || len(id) == 0 {
		t.Fatalf("cluster.id holds %q, the cluster is %q", id, b.srv.broker.ClusterID())
	}
	if _, err := os.Stat(filepath.Join(dir, "cluster.id.tmp")); !os.IsNotExist(err) {
		t.Fatalf("cluster.id.tmp left behind: %v", err)
	}
}

// TestLargestRecordFits produces a record as large as max.message.bytes
// may allow, through a broker whose request limit is at its most: the
// limits leave it room, so it is stored rather than refused.
func TestLargestRecordFits(t *testing.T) {
	b := startBrokerWith(t, "", func(c *Config) { c.MaxRequestBytes = MaxRequestBytesLimit })
	b.createTopic("big", 1, map[string]string{"max.message.bytes": strconv.Itoa(catalog.MaxRecordBytes)})
	value := make([]byte, catalog.MaxRecordBytes-8) // its tag and length make the record MaxRecordBytes
	acks := mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "big", Records: []*runnelv1.Record{{Value: value}}}))
	if len(acks) != 1 || acks[0].RecordCount != 1 {
		t.Fatalf("acks %v", acks)
	}
}
