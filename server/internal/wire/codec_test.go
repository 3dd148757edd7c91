package wire

import (
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestCodec: a Message goes out as its bytes and comes in as the bytes
// that came; anything else is protobuf, so either side may be a plain
// protobuf peer.
func TestCodec(t *testing.T) {
	c := NewCodec()
	want := &runnelv1.ProduceAck{Partition: 3, BaseOffset: 42, RecordCount: 7}
	encoded, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal(Message(encoded))
	if err != nil || string(out.Materialize()) != string(encoded) {
		t.Fatalf("Marshal(Message) = %x, %v; want the bytes as they are", out.Materialize(), err)
	}
	var got runnelv1.ProduceAck
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(encoded)}, &got); err != nil || !proto.Equal(&got, want) {
		t.Fatalf("Unmarshal into a proto: %v, %v", &got, err)
	}
	var raw Message
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(encoded[:2]), mem.SliceBuffer(encoded[2:])}, &raw); err != nil || string(raw) != string(encoded) {
		t.Fatalf("Unmarshal into a Message: %x, %v; want %x", raw, err, encoded)
	}
	viaProto, err := c.Marshal(want)
	if err != nil || string(viaProto.Materialize()) != string(encoded) {
		t.Fatalf("Marshal(proto) = %x, %v", viaProto.Materialize(), err)
	}
}
