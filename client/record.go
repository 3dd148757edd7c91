package client

import (
	"errors"
	"fmt"
	"time"
)

// Record is one record: to produce, or as a Consumer returns it, with
// Partition (never nil then) and Offset set.
type Record struct {
	// Topic is where the record goes; required.
	Topic string
	// Key decides the partition when Partition is nil (Kafka's murmur2,
	// as the broker does), so that records of one key keep their order.
	// Without a key, records go to a partition chosen per batch (Kafka's
	// sticky partitioner), which keeps batches large.
	Key   []byte
	Value []byte
	// Headers are sent as given, in order.
	Headers []Header
	// Timestamp is the record's time; zero lets the broker stamp it.
	Timestamp time.Time
	// Partition, when set, is the partition the record goes to, over the
	// key and the Partitioner: Partition: new(int32(3)).
	Partition *int32
	// Offset is a consumed record's offset in its partition; ignored on
	// produce.
	Offset int64
}

// Header is a record header: a key and its value.
type Header struct {
	Key   string
	Value []byte
}

// Ack says where an acknowledged record landed: it is durable as the
// producer's acks asked (by default, at a broker, on a quorum of
// replicas' disks; at a sidecar, in its spool).
type Ack struct {
	Topic     string
	Partition int32
	// Offset is -1 when a sidecar acknowledged the record once spooled:
	// its offset in the cluster is not known yet.
	Offset int64
}

// ErrBufferFull is returned, with a producer made WithFailWhenBufferFull,
// for a record that does not fit in the producer's buffer. Without that
// option Produce waits for room instead.
var ErrBufferFull = errors.New("client: the producer's buffer is full")

// RecordError is the error of one record that was not appended: which
// record (its topic, partition and key), and why. Err is the broker's
// status (see google.golang.org/grpc/status.FromError) or the producer's
// own error (ErrClosed, a delivery timeout, a context's error).
type RecordError struct {
	Record    *Record
	Partition int32 // -1 when no partition was chosen
	// Index is the record's position in the batch it was sent in, and
	// Culprit that of the record the broker refused, when it named one:
	// the rest of a refused batch fails with the culprit's reason.
	Index, Culprit int
	Err            error
}

func (e *RecordError) Error() string {
	what := fmt.Sprintf("record %s/%d", e.Record.Topic, e.Partition)
	if e.Record.Key != nil {
		what += fmt.Sprintf(" key %q", truncate(e.Record.Key))
	}
	if e.Culprit >= 0 && e.Culprit != e.Index {
		return fmt.Sprintf("runnel: %s not appended: record %d of its batch was refused: %v", what, e.Culprit, e.Err)
	}
	return fmt.Sprintf("runnel: %s not appended: %v", what, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// size is what a record costs the producer's buffer and its batch: its
// bytes plus an allowance for the framing.
func (r *Record) size() int {
	n := len(r.Key) + len(r.Value) + 24
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}
