package records

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func sample(n int) []*runnelv1.Record {
	recs := make([]*runnelv1.Record, n)
	for i := range recs {
		recs[i] = &runnelv1.Record{
			Key:       []byte(fmt.Sprintf("k%d", i)),
			Value:     []byte(fmt.Sprintf("value %d", i)),
			Headers:   []*runnelv1.Header{{Key: "h", Value: []byte{byte(i)}}},
			Timestamp: timestamppb.New(timestamppb.Now().AsTime()),
		}
	}
	return recs
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n          int
		base, from int64
	}{
		{"all", 5, 100, 100},
		{"from the middle", 5, 100, 103},
		{"from before the batch", 5, 100, 0},
		{"one", 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := sample(tc.n)
			payload, err := Encode(nil, recs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(payload, tc.base, tc.n, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			skip := int(max(tc.from-tc.base, 0))
			if len(got) != tc.n-skip {
				t.Fatalf("got %d records, want %d", len(got), tc.n-skip)
			}
			for i, r := range got {
				want := proto.Clone(recs[skip+i]).(*runnelv1.Record)
				want.Offset = tc.base + int64(skip+i)
				if !proto.Equal(r, want) {
					t.Fatalf("record %d = %v, want %v", i, r, want)
				}
			}
		})
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	payload, err := Encode(nil, sample(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		count   int
	}{
		{"truncated", payload[:len(payload)-2], 3},
		{"count too high", payload, 4},
		{"count too low", payload, 2},
		{"garbage length", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.payload, 0, tc.count, 0); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %v, want ErrMalformed", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	payload, _ := Encode(nil, sample(3))
	f.Add(payload, 3)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, payload []byte, count int) {
		if count < 0 || count > 1<<16 {
			return
		}
		recs, err := Decode(payload, 0, count, 0)
		if err == nil && len(recs) != count {
			t.Fatalf("decoded %d records, header says %d", len(recs), count)
		}
	})
}
