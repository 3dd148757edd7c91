package records

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// ErrMalformed is returned by Decode when a payload is not a sequence of
// length-prefixed records; the stored batch is damaged.
var ErrMalformed = errors.New("records: malformed batch payload")

// Encode appends the encoding of recs to dst. The records' offsets are
// not encoded.
func Encode(dst []byte, recs []*runnelv1.Record) ([]byte, error) {
	opts := proto.MarshalOptions{}
	for _, r := range recs {
		offset := r.Offset
		r.Offset = 0
		dst = protowire.AppendVarint(dst, uint64(opts.Size(r)))
		var err error
		dst, err = opts.MarshalAppend(dst, r)
		r.Offset = offset
		if err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// Decode decodes payload, giving the records offsets baseOffset,
// baseOffset+1, ... and returning only those at or after from. It checks
// that payload holds exactly count records.
func Decode(payload []byte, baseOffset int64, count int, from int64) ([]*runnelv1.Record, error) {
	skip := max(from-baseOffset, 0)
	out := make([]*runnelv1.Record, 0, max(int64(count)-skip, 0))
	for i := 0; len(payload) > 0; i++ {
		n, l := protowire.ConsumeVarint(payload)
		if l < 0 || uint64(len(payload)-l) < n {
			return nil, fmt.Errorf("record %d: %w", i, ErrMalformed)
		}
		body := payload[l : l+int(n)]
		payload = payload[l+int(n):]
		if int64(i) < skip {
			continue
		}
		r := &runnelv1.Record{}
		if err := proto.Unmarshal(body, r); err != nil {
			return nil, fmt.Errorf("record %d: %w: %v", i, ErrMalformed, err)
		}
		r.Offset = baseOffset + int64(i)
		out = append(out, r)
		if i+1 > count {
			return nil, fmt.Errorf("more records than the header's %d: %w", count, ErrMalformed)
		}
	}
	if got := int64(len(out)) + min(skip, int64(count)); got != int64(count) {
		return nil, fmt.Errorf("%d records, header says %d: %w", got, count, ErrMalformed)
	}
	return out, nil
}
