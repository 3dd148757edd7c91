package records

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of runnel.v1.Record, Header and google.protobuf.Timestamp.
const (
	recordKey       protowire.Number = 1
	recordValue     protowire.Number = 2
	recordHeaders   protowire.Number = 3
	recordTimestamp protowire.Number = 4
	recordOffset    protowire.Number = 5
	headerKey       protowire.Number = 1
	timestampSecs   protowire.Number = 1
	timestampNanos  protowire.Number = 2
)

// Valid timestamps span 0001-01-01 to 9999-12-31, as in
// google.protobuf.Timestamp.
const (
	minSeconds = -62135596800
	maxSeconds = 253402300799
)

// ErrMalformed is returned for bytes that are not a well-formed record or
// stored payload.
var ErrMalformed = errors.New("malformed record")

// Record is one record as its producer encoded it, with what Parse found.
type Record struct {
	// Bytes is the record's encoding; Parse aliases its input.
	Bytes []byte
	// Key and Value alias Bytes; nil when the record has none.
	Key, Value []byte
	// Timestamp is the record's timestamp, valid when HasTimestamp.
	Timestamp    Timestamp
	HasTimestamp bool
}

// UseBrokerTime makes the record take the broker's time when stored, as
// Kafka's LogAppendTime does, whatever timestamp its producer gave it.
func (r *Record) UseBrokerTime() { r.Timestamp, r.HasTimestamp = Timestamp{}, false }

// Timestamp is a google.protobuf.Timestamp.
type Timestamp struct {
	Seconds int64
	Nanos   int32
}

// UnixMilli returns the timestamp in milliseconds since the epoch.
func (t Timestamp) UnixMilli() int64 { return t.Seconds*1000 + int64(t.Nanos)/1e6 }

// Parse scans the encoding of a runnel.v1.Record: it must be well-formed
// protobuf, header keys valid UTF-8 and the timestamp valid.
func Parse(b []byte) (Record, error) {
	r := Record{Bytes: b}
	for len(b) > 0 {
		num, typ, n, err := consumeTag(b, "record")
		if err != nil {
			return Record{}, err
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == recordKey || num == recordValue || num == recordHeaders || num == recordTimestamp) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return Record{}, fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case recordKey:
				r.Key = v
			case recordValue:
				r.Value = v
			case recordHeaders:
				if err := checkHeader(v); err != nil {
					return Record{}, err
				}
			case recordTimestamp:
				if err := mergeTimestamp(&r.Timestamp, v); err != nil {
					return Record{}, err
				}
				r.HasTimestamp = true
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return Record{}, fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if r.HasTimestamp && (r.Timestamp.Seconds < minSeconds || r.Timestamp.Seconds > maxSeconds ||
		r.Timestamp.Nanos < 0 || r.Timestamp.Nanos >= 1e9) {
		return Record{}, fmt.Errorf("%w: timestamp %ds %dns is outside 0001-01-01 to 9999-12-31", ErrMalformed,
			r.Timestamp.Seconds, r.Timestamp.Nanos)
	}
	return r, nil
}

// checkHeader checks that a Header's key is valid UTF-8, as a proto3
// string must be: clients would fail to decode it otherwise.
func checkHeader(b []byte) error {
	for len(b) > 0 {
		num, typ, n, err := consumeTag(b, "header")
		if err != nil {
			return err
		}
		b = b[n:]
		if num == headerKey && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: header: %v", ErrMalformed, protowire.ParseError(n))
			}
			if !utf8.Valid(v) {
				return fmt.Errorf("%w: header key is not valid UTF-8", ErrMalformed)
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("%w: header: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

func mergeTimestamp(t *Timestamp, b []byte) error {
	for len(b) > 0 {
		num, typ, n, err := consumeTag(b, "timestamp")
		if err != nil {
			return err
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == timestampSecs || num == timestampNanos) {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%w: timestamp: %v", ErrMalformed, protowire.ParseError(n))
			}
			b = b[n:]
			if num == timestampSecs {
				t.Seconds = int64(v)
			} else {
				t.Nanos = int32(v)
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("%w: timestamp: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

// consumeTag reads a field's tag, rejecting field numbers that protobuf
// decoders refuse.
func consumeTag(b []byte, what string) (protowire.Number, protowire.Type, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, 0, fmt.Errorf("%w: %s: %v", ErrMalformed, what, protowire.ParseError(n))
	}
	if num < protowire.MinValidNumber || num > protowire.MaxValidNumber {
		return 0, 0, 0, fmt.Errorf("%w: %s: field number %d", ErrMalformed, what, num)
	}
	return num, typ, n, nil
}

// New encodes a record with key, value and timestamp, for the broker's
// own producers (internal topics).
func New(key, value []byte, ts Timestamp) Record {
	var b []byte
	if len(key) > 0 {
		b = protowire.AppendTag(b, recordKey, protowire.BytesType)
		b = protowire.AppendBytes(b, key)
	}
	if len(value) > 0 {
		b = protowire.AppendTag(b, recordValue, protowire.BytesType)
		b = protowire.AppendBytes(b, value)
	}
	if ts != (Timestamp{}) {
		b = appendTimestampField(b, ts)
	}
	r, err := Parse(b)
	if err != nil {
		panic(fmt.Sprintf("records: New made a record Parse refuses: %v", err))
	}
	return r
}
