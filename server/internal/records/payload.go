package records

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// StoredSize is how many payload bytes AppendStored adds for r.
func StoredSize(r Record, now Timestamp) int {
	n := len(r.Bytes)
	if !r.HasTimestamp {
		n += timestampFieldSize(now)
	}
	return protowire.SizeVarint(uint64(n)) + n
}

// AppendStored appends r to a batch payload, giving it now as its
// timestamp if it has none (or had its own dropped: see
// Record.UseBrokerTime).
func AppendStored(dst []byte, r Record, now Timestamp) []byte {
	n := len(r.Bytes)
	if !r.HasTimestamp {
		n += timestampFieldSize(now)
	}
	dst = protowire.AppendVarint(dst, uint64(n))
	dst = append(dst, r.Bytes...)
	if !r.HasTimestamp {
		dst = appendTimestampField(dst, now)
	}
	return dst
}

// NB: a stamp writes both fields, zero or not: appended to a record that
// has a timestamp (LogAppendTime), it must replace both of the producer's
// when protobuf merges them.
func timestampBodySize(t Timestamp) int {
	return protowire.SizeTag(timestampSecs) + protowire.SizeVarint(uint64(t.Seconds)) +
		protowire.SizeTag(timestampNanos) + protowire.SizeVarint(uint64(t.Nanos))
}

func timestampFieldSize(t Timestamp) int {
	body := timestampBodySize(t)
	return protowire.SizeTag(recordTimestamp) + protowire.SizeBytes(body)
}

func appendTimestampField(dst []byte, t Timestamp) []byte {
	dst = protowire.AppendTag(dst, recordTimestamp, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(timestampBodySize(t)))
	dst = protowire.AppendTag(dst, timestampSecs, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(t.Seconds))
	dst = protowire.AppendTag(dst, timestampNanos, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(t.Nanos))
	return dst
}

// each calls fn with every record of a payload that must hold exactly
// count records; fn's bytes alias payload.
func each(payload []byte, count int, fn func(i int, rec []byte) error) error {
	i := 0
	for ; len(payload) > 0; i++ {
		n, l := protowire.ConsumeVarint(payload)
		if l < 0 || uint64(len(payload)-l) < n {
			return fmt.Errorf("record %d: %w: bad length", i, ErrMalformed)
		}
		if i >= count {
			return fmt.Errorf("more records than the header's %d: %w", count, ErrMalformed)
		}
		if err := fn(i, payload[l:l+int(n)]); err != nil {
			return err
		}
		payload = payload[l+int(n):]
	}
	if i != count {
		return fmt.Errorf("%d records, the header says %d: %w", i, count, ErrMalformed)
	}
	return nil
}

// Decoded is a stored record and its offset.
type Decoded struct {
	Offset int64
	Record // its Bytes: the record as stored (with the broker's timestamp)
}

// Decode decodes a stored payload, giving the records offsets baseOffset,
// baseOffset+1, ... and returning those at or after from. The records
// alias payload. The broker's own state machines use it; subscribers get
// AppendSubscribeResponse.
func Decode(payload []byte, baseOffset int64, count int, from int64) ([]Decoded, error) {
	var out []Decoded
	err := each(payload, count, func(i int, b []byte) error {
		offset := baseOffset + int64(i)
		if offset < from {
			return nil
		}
		r, err := Parse(b)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		out = append(out, Decoded{Offset: offset, Record: r})
		return nil
	})
	return out, err
}
