package server

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// codec is the server's gRPC codec: protobuf for every message, except on
// the two hot paths, where decoding a message only to encode it again
// would cost more than everything else the broker does:
//
//   - *produceRequest: a runnel.v1.ProduceRequest read field by field, its
//     records kept as the bytes the producer sent (they are stored so);
//   - encodedMessage: a message already encoded, such as a
//     SubscribeResponse built from stored batches or relayed from
//     another broker.
//
// Clients see plain protobuf either way.
type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{proto: encoding.GetCodecV2(protocodec.Name)} }

func (codec) Name() string { return protocodec.Name }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(encodedMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*produceRequest); ok {
		// NB: data's buffers are recycled once Unmarshal returns, and the
		// records outlive it: take one copy. A malformed request is that
		// request's error, answered InvalidArgument on a stream that stays
		// open, not an error of the stream.
		r.err = r.parse(data.Materialize())
		return nil
	}
	if m, ok := v.(*encodedMessage); ok {
		// A response relayed from another broker as it came.
		*m = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

// encodedMessage is a protobuf message in wire format, sent as is.
type encodedMessage []byte

// produceRequest is a runnel.v1.ProduceRequest with its records left
// encoded. Field numbers are those of produce.proto.
type produceRequest struct {
	topic         string
	partition     *int32
	records       [][]byte // alias the message's buffer
	correlationID uint64
	acks          runnelv1.Acks
	err           error // why the message is malformed
}

func (r *produceRequest) parse(b []byte) error {
	if err := r.parseFields(b); err != nil {
		return fmt.Errorf("malformed ProduceRequest: %w", err)
	}
	return nil
}

func (r *produceRequest) parseFields(b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			if !utf8.Valid(v) {
				return errors.New("topic is not valid UTF-8")
			}
			r.topic, b = string(v), b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			p := int32(v)
			r.partition, b = &p, b[n:]
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			r.records, b = append(r.records, v), b[n:]
		case num == 4 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			r.correlationID, b = v, b[n:]
		case num == 5 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			r.acks, b = runnelv1.Acks(int32(v)), b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return nil
}
