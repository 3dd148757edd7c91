package wire

import (
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Message is a protobuf message in wire format, sent as is and received
// as it came.
type Message []byte

// Codec is protobuf with Message passed through. Clients at the other end
// see plain protobuf.
type Codec struct{ proto encoding.CodecV2 }

// NewCodec returns the codec.
func NewCodec() Codec { return Codec{proto: encoding.GetCodecV2(protocodec.Name)} }

// Name is protobuf's: the codec changes no byte on the wire.
func (Codec) Name() string { return protocodec.Name }

// Marshal encodes v; a Message is its own encoding.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(Message); ok {
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	}
	return c.proto.Marshal(v)
}

// Unmarshal decodes data into v; into a *Message, it copies data as is.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*Message); ok {
		*m = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}
