package records

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func sample(n int, withTimestamps bool) []*runnelv1.Record {
	recs := make([]*runnelv1.Record, n)
	for i := range recs {
		recs[i] = &runnelv1.Record{
			Key:     []byte(fmt.Sprintf("k%d", i)),
			Value:   []byte(fmt.Sprintf("value %d", i)),
			Headers: []*runnelv1.Header{{Key: "h", Value: []byte{byte(i)}}},
		}
		if withTimestamps {
			recs[i].Timestamp = timestamppb.New(time.Unix(1700000000+int64(i), 5000))
		}
	}
	return recs
}

func mustParse(t testing.TB, r *runnelv1.Record) Record {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func payloadOf(t testing.TB, recs []*runnelv1.Record, now Timestamp) []byte {
	t.Helper()
	var payload []byte
	for _, r := range recs {
		p := mustParse(t, r)
		before := len(payload)
		payload = AppendStored(payload, p, now)
		if got := len(payload) - before; got != StoredSize(p, now) {
			t.Fatalf("StoredSize %d, AppendStored wrote %d", StoredSize(p, now), got)
		}
	}
	return payload
}

func TestParse(t *testing.T) {
	r := mustParse(t, &runnelv1.Record{Key: []byte("user-1"), Value: []byte("v"), Timestamp: timestamppb.New(time.UnixMilli(1234567))})
	if string(r.Key) != "user-1" || !r.HasTimestamp || r.Timestamp.UnixMilli() != 1234567 {
		t.Fatalf("Parse = %+v", r)
	}
	r = mustParse(t, &runnelv1.Record{Value: []byte("v")})
	if r.Key != nil || r.HasTimestamp {
		t.Fatalf("Parse of a keyless record without timestamp = %+v", r)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"truncated", mustMarshal(t, &runnelv1.Record{Value: []byte("hello")})[:4]},
		{"bad header key", mustMarshalUnchecked(t, &runnelv1.Record{Headers: []*runnelv1.Header{{Key: "\xff"}}})},
		{"timestamp before year 1", mustMarshal(t, &runnelv1.Record{Timestamp: &timestamppb.Timestamp{Seconds: minSeconds - 1}})},
		{"negative nanos", mustMarshal(t, &runnelv1.Record{Timestamp: &timestamppb.Timestamp{Nanos: -1}})},
		{"bad tag", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %v, want ErrMalformed", err)
			}
		})
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustMarshalUnchecked encodes a header with an invalid UTF-8 key, which
// proto.Marshal refuses to do: by hand.
func mustMarshalUnchecked(t *testing.T, r *runnelv1.Record) []byte {
	t.Helper()
	h := protowire.AppendTag(nil, headerKey, protowire.BytesType)
	h = protowire.AppendBytes(h, []byte(r.Headers[0].Key))
	b := protowire.AppendTag(nil, recordHeaders, protowire.BytesType)
	return protowire.AppendBytes(b, h)
}

// TestStoredRoundTrip stores records with and without timestamps and
// decodes them: the producer's fields are kept, missing timestamps get
// the broker's, offsets follow the position.
func TestStoredRoundTrip(t *testing.T) {
	now := Timestamp{Seconds: 1800000000, Nanos: 42}
	for _, withTS := range []bool{true, false} {
		t.Run(fmt.Sprintf("timestamps=%v", withTS), func(t *testing.T) {
			recs := sample(5, withTS)
			got, err := Decode(payloadOf(t, recs, now), 100, 5, 102)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Fatalf("got %d records from offset 102, want 3", len(got))
			}
			for i, d := range got {
				want := proto.Clone(recs[i+2]).(*runnelv1.Record)
				if !withTS {
					want.Timestamp = &timestamppb.Timestamp{Seconds: now.Seconds, Nanos: now.Nanos}
				}
				// NB: protobuf's own decoder, so that what is stored is
				// what any client reads.
				r := &runnelv1.Record{}
				if err := proto.Unmarshal(d.Bytes, r); err != nil {
					t.Fatalf("record %d as stored: %v", i, err)
				}
				if d.Offset != int64(102+i) || string(d.Key) != string(want.Key) || string(d.Value) != string(want.Value) {
					t.Fatalf("record %d: offset %d, key %q, value %q; want %d, %q, %q", i, d.Offset, d.Key, d.Value, 102+i, want.Key, want.Value)
				}
				if !proto.Equal(r, want) {
					t.Fatalf("record %d = %v, want %v", i, r, want)
				}
			}
		})
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	payload := payloadOf(t, sample(3, true), Timestamp{})
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

// TestSubscribeResponse builds a response from stored batches and decodes
// it as a client would.
func TestSubscribeResponse(t *testing.T) {
	a, b := sample(4, true), sample(3, true)
	b[1].Offset = 999 // a producer-sent offset must not survive
	rb := ResponseBatch{
		Topic: "orders", Partition: 2, HighWatermark: 50,
		Batches: []Stored{{BaseOffset: 10, Count: 4, Payload: payloadOf(t, a, Timestamp{})}, {BaseOffset: 14, Count: 3, Payload: payloadOf(t, b, Timestamp{})}},
		From:    11, End: 16,
	}
	buf, n, next, err := AppendSubscribeResponse([]byte("prefix"), rb)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 || next != 16 {
		t.Fatalf("wrote %d records, next %d; want 5, 16", n, next)
	}
	var resp runnelv1.SubscribeResponse
	if err := proto.Unmarshal(buf[len("prefix"):], &resp); err != nil {
		t.Fatal(err)
	}
	want := []*runnelv1.Record{a[1], a[2], a[3], b[0], b[1]}
	if resp.Batch.Topic != "orders" || resp.Batch.Partition != 2 || resp.Batch.HighWatermark != 50 || len(resp.Batch.Records) != len(want) {
		t.Fatalf("response = %v", resp.Batch)
	}
	for i, r := range resp.Batch.Records {
		w := proto.Clone(want[i]).(*runnelv1.Record)
		w.Offset = int64(11 + i)
		if !proto.Equal(r, w) {
			t.Fatalf("record %d = %v, want %v", i, r, w)
		}
	}
	// Partition 0 and offset 0 are written so that they decode as such.
	rb = ResponseBatch{Topic: "t", Batches: []Stored{{Count: 1, Payload: payloadOf(t, sample(1, true), Timestamp{})}}, End: 1}
	buf, _, _, _ = AppendSubscribeResponse(nil, rb)
	if err := proto.Unmarshal(buf, &resp); err != nil || resp.Batch.Records[0].Offset != 0 || resp.Batch.Partition != 0 {
		t.Fatalf("zero values: %v %v", resp.Batch, err)
	}
}

// TestSubscribeResponseSplitsBatches checks that MaxBytes cuts a batch
// between records, never before the first one.
func TestSubscribeResponseSplitsBatches(t *testing.T) {
	recs := sample(10, true)
	stored := []Stored{{BaseOffset: 0, Count: 10, Payload: payloadOf(t, recs, Timestamp{})}}
	one := len(mustMarshal(t, recs[0]))
	for _, tc := range []struct {
		maxBytes, wantCount int // wantCount -1: more than one, fewer than all
	}{
		{0, 10}, // no limit
		{1, 1},  // always at least one record
		{4 * one, -1},
		{1 << 20, 10},
	} {
		var got []int64
		from := int64(0)
		for from < 10 {
			buf, n, next, err := AppendSubscribeResponse(nil, ResponseBatch{Topic: "t", Batches: stored, From: from, End: 10, MaxBytes: tc.maxBytes})
			if err != nil {
				t.Fatal(err)
			}
			// The RecordBatch stays within MaxBytes; its own tag and length
			// add at most 6 bytes.
			if tc.maxBytes > 0 && n > 1 && len(buf) > tc.maxBytes+6 {
				t.Fatalf("max %d: a %d-record response is %d bytes", tc.maxBytes, n, len(buf))
			}
			var resp runnelv1.SubscribeResponse
			if err := proto.Unmarshal(buf, &resp); err != nil {
				t.Fatal(err)
			}
			for _, r := range resp.Batch.Records {
				got = append(got, r.Offset)
			}
			if from == 0 && (tc.wantCount >= 0 && n != tc.wantCount || tc.wantCount < 0 && (n < 2 || n > 9)) {
				t.Fatalf("max %d: first response has %d records, want %d", tc.maxBytes, n, tc.wantCount)
			}
			from = next
		}
		if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7 8 9]" {
			t.Fatalf("max %d: offsets across responses %v", tc.maxBytes, got)
		}
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts,
// stored and served, a client decodes.
func FuzzParse(f *testing.F) {
	for _, r := range sample(3, true) {
		f.Add(mustMarshal(f, r))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		payload := AppendStored(nil, r, Timestamp{Seconds: 1})
		buf, _, _, err := AppendSubscribeResponse(nil, ResponseBatch{Topic: "t", Batches: []Stored{{Count: 1, Payload: payload}}, End: 1})
		if err != nil {
			t.Fatal(err)
		}
		var resp runnelv1.SubscribeResponse
		if err := proto.Unmarshal(buf, &resp); err != nil {
			t.Fatalf("Parse accepted %x but a client cannot decode it: %v", b, err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add(payloadOf(f, sample(3, true), Timestamp{}), 3)
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

// TestBrokerTimeReplacesProducers stores a record stamped by its producer
// with the broker's time (LogAppendTime): both fields must be replaced,
// even where the broker's is zero (protobuf merges field by field).
func TestBrokerTimeReplacesProducers(t *testing.T) {
	r := mustParse(t, &runnelv1.Record{Value: []byte("v"), Timestamp: &timestamppb.Timestamp{Seconds: 5, Nanos: 7}})
	r.UseBrokerTime()
	now := Timestamp{Seconds: 100}
	payload := AppendStored(nil, r, now)
	if len(payload) != StoredSize(r, now) {
		t.Fatalf("StoredSize %d, AppendStored wrote %d", StoredSize(r, now), len(payload))
	}
	got, err := Decode(payload, 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ts := got[0].Timestamp; ts.Seconds != 100 || ts.Nanos != 0 {
		t.Fatalf("stored timestamp %v, want 100s 0ns", ts)
	}
}

// TestNew: what the broker encodes for its own topics is the record
// protobuf decodes, and Parse finds its fields.
func TestNew(t *testing.T) {
	for _, tc := range []struct {
		key, value []byte
		ts         Timestamp
	}{
		{[]byte("k"), []byte("v"), Timestamp{Seconds: 1700000000, Nanos: 5}},
		{nil, []byte("only a value"), Timestamp{}},
		{nil, nil, Timestamp{Seconds: 1}},
	} {
		r := New(tc.key, tc.value, tc.ts)
		got := &runnelv1.Record{}
		if err := proto.Unmarshal(r.Bytes, got); err != nil {
			t.Fatal(err)
		}
		want := &runnelv1.Record{Key: tc.key, Value: tc.value}
		if tc.ts != (Timestamp{}) {
			want.Timestamp = &timestamppb.Timestamp{Seconds: tc.ts.Seconds, Nanos: tc.ts.Nanos}
		}
		if !proto.Equal(got, want) || string(r.Key) != string(tc.key) || string(r.Value) != string(tc.value) ||
			r.HasTimestamp != (tc.ts != Timestamp{}) || r.HasTimestamp && r.Timestamp != tc.ts {
			t.Fatalf("New(%q, %q, %v) = %v as protobuf, %+v parsed", tc.key, tc.value, tc.ts, got, r)
		}
	}
}
