package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/wire"
)

// codec is the server's gRPC codec: wire's (protobuf, with wire.Message
// sent as is), and a *produceRequest read field by field, its records
// kept as the bytes the producer sent (they are stored so): decoding them
// only to encode them again would cost more than storing them.
type codec struct {
	wire.Codec
	// limits bound a ProduceRequest before its records are parsed.
	limits requestLimits
}

// requestLimits are Config.MaxRequestBytes and MaxRequestRecords.
type requestLimits struct {
	bytes   int
	records int
}

func newServerCodec(limits requestLimits) codec {
	return codec{Codec: wire.NewCodec(), limits: limits}
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*produceRequest); ok {
		// NB: data's buffers are recycled once Unmarshal returns, and the
		// records outlive it: take one copy. A malformed request is that
		// request's error, answered InvalidArgument on a stream that stays
		// open, not an error of the stream. NB: one over the size limit is
		// neither copied nor parsed: only its correlation_id is looked for.
		if n := data.Len(); c.limits.bytes > 0 && n > c.limits.bytes {
			r.correlationID = scanCorrelationID(data)
			r.err = fmt.Errorf("the request is %d bytes, over the broker's limit of %d (--max-request-bytes): send fewer or smaller records per request", n, c.limits.bytes)
			return nil
		}
		b := data.Materialize()
		r.size = int64(cap(b))
		r.err = r.parse(b, c.limits.records)
		return nil
	}
	return c.Codec.Unmarshal(data, v)
}

// produceRequest is a runnel.v1.ProduceRequest with its records left
// encoded. Field numbers are those of produce.proto.
type produceRequest struct {
	topic         string
	partition     *int32
	records       [][]byte // alias the message's buffer
	correlationID uint64
	acks          runnelv1.Acks
	leaderEpoch   uint64
	producer      broker.Producer
	compressed    *broker.Compressed // data aliases the message's buffer
	err           error              // why the message is malformed
	// size is the memory the request holds (its copy of the message), and
	// lease that much of the memory budget (produce.go).
	size  int64
	lease lease
}

// parse reads a ProduceRequest of at most maxRecords records (0: no
// limit), counted before any is kept.
func (r *produceRequest) parse(b []byte, maxRecords int) error {
	if maxRecords > 0 {
		if n, id := countRecords(b); n > maxRecords {
			r.correlationID = id
			return fmt.Errorf("the request has %d records, over the broker's limit of %d (--max-request-records): send fewer records per request", n, maxRecords)
		}
	}
	if err := r.parseFields(b); err != nil {
		return fmt.Errorf("malformed ProduceRequest: %w", err)
	}
	if c := r.compressed; c != nil && maxRecords > 0 && c.Count > maxRecords {
		return fmt.Errorf("the request's compressed_records holds %d records, over the broker's limit of %d (--max-request-records): send fewer records per request", c.Count, maxRecords)
	}
	return nil
}

// parseCompressed reads a runnel.v1.CompressedRecords into c, its data
// aliasing b.
func parseCompressed(b []byte, c *broker.Compressed) error {
	err := eachField(b, func(f field) error {
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			if f.varint < 1 || f.varint > uint64(compression.Zstd) {
				return fmt.Errorf("compression %d is not a codec: use COMPRESSION_GZIP, _SNAPPY, _LZ4 or _ZSTD", int64(f.varint))
			}
			c.Codec = compression.Codec(f.varint)
		case f.num == 2 && f.typ == protowire.BytesType:
			c.Data = f.bytes
		case f.num == 3 && f.typ == protowire.VarintType:
			count, err := varintInt32("record_count", f.varint)
			if err != nil {
				return err
			}
			c.Count = int(count)
		}
		return nil
	})
	if err == nil && c.Codec == compression.None && len(c.Data) > 0 {
		err = errors.New("compression is unset: name the codec data is compressed with")
	}
	return err
}

// field is one field of an encoded message: its number, its wire type and
// its value, for a varint or a length-delimited field (bytes alias the
// message).
type field struct {
	num    protowire.Number
	typ    protowire.Type
	varint uint64
	bytes  []byte
}

// eachField calls fn with each field of the encoded message b, in order,
// until fn fails; malformed encoding is protowire's error.
func eachField(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.varint, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// countRecords counts the records field's occurrences and finds the
// correlation_id, stopping at the first malformed field (parseFields
// reports it).
func countRecords(b []byte) (n int, correlationID uint64) {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return n, correlationID
		}
		b = b[l:]
		switch {
		case num == 3 && typ == protowire.BytesType:
			n++
		case num == 4 && typ == protowire.VarintType:
			correlationID, _ = protowire.ConsumeVarint(b)
		}
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return n, correlationID
		}
		b = b[l:]
	}
	return n, correlationID
}

// scanCorrelationID returns the correlation_id of an encoded
// ProduceRequest without copying it (0 if it has none or is malformed
// before it), so that a request refused unread is still answered under
// its id.
func scanCorrelationID(data mem.BufferSlice) uint64 {
	r := data.Reader()
	defer r.Close()
	var id uint64
	// NB: the fields of a group (an unknown field of wire type StartGroup,
	// which protobuf skips whole) are not the request's: a 4 in one is
	// not its correlation_id.
	depth := 0
	for {
		tag, err := binary.ReadUvarint(r)
		if err != nil {
			return id
		}
		num, typ := protowire.DecodeTag(tag)
		if num < protowire.MinValidNumber {
			return id
		}
		var skip uint64
		switch typ {
		case protowire.VarintType:
			v, err := binary.ReadUvarint(r)
			if err != nil {
				return id
			}
			if num == 4 && depth == 0 {
				id = v
			}
			continue
		case protowire.StartGroupType:
			depth++
			continue
		case protowire.EndGroupType:
			if depth == 0 {
				return id
			}
			depth--
			continue
		case protowire.BytesType:
			if skip, err = binary.ReadUvarint(r); err != nil {
				return id
			}
		case protowire.Fixed32Type:
			skip = 4
		case protowire.Fixed64Type:
			skip = 8
		default:
			return id
		}
		if skip > uint64(r.Remaining()) {
			return id
		}
		if _, err := r.Discard(int(skip)); err != nil {
			return id
		}
	}
}

// parseFields reads a ProduceRequest's fields into r, its records and
// compressed batch aliasing b.
func (r *produceRequest) parseFields(b []byte) error {
	return eachField(b, func(f field) error {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			if !utf8.Valid(f.bytes) {
				return errors.New("topic is not valid UTF-8")
			}
			r.topic = string(f.bytes)
		case f.num == 2 && f.typ == protowire.VarintType:
			p, err := varintInt32("partition", f.varint)
			if err != nil {
				return err
			}
			r.partition = &p
		case f.num == 3 && f.typ == protowire.BytesType:
			r.records = append(r.records, f.bytes)
		case f.num == 4 && f.typ == protowire.VarintType:
			r.correlationID = f.varint
		case f.num == 5 && f.typ == protowire.VarintType:
			a, err := varintInt32("acks", f.varint)
			if err != nil {
				return err
			}
			r.acks = runnelv1.Acks(a)
		case f.num == 6 && f.typ == protowire.VarintType:
			r.leaderEpoch = f.varint
		case f.num == 7 && f.typ == protowire.VarintType:
			r.producer.ID = int64(f.varint)
		case f.num == 8 && f.typ == protowire.VarintType:
			e, err := varintInt32("producer_epoch", f.varint)
			if err != nil {
				return err
			}
			r.producer.Epoch = e
		case f.num == 9 && f.typ == protowire.VarintType:
			r.producer.Sequence = int64(f.varint)
		case f.num == 10 && f.typ == protowire.BytesType:
			if r.compressed == nil {
				r.compressed = &broker.Compressed{}
			}
			// NB: a message field may come in parts, merged.
			if err := parseCompressed(f.bytes, r.compressed); err != nil {
				return fmt.Errorf("compressed_records: %w", err)
			}
		}
		return nil
	})
}

// varintInt32 reads an int32 field's varint: protobuf encodes a negative
// int32 sign-extended to 64 bits, so anything outside the int32 range is
// no int32 a client encoded, and is refused rather than truncated.
func varintInt32(field string, v uint64) (int32, error) {
	if i := int64(v); i < math.MinInt32 || i > math.MaxInt32 {
		return 0, fmt.Errorf("%s %d is out of the int32 range", field, i)
	}
	return int32(v), nil
}
