package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runnel-broker/runnel/compression"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/partitioner"
)

// Partitioner picks a record's partition among n. Returning ok false
// leaves the record to the default: murmur2 of the key, or the sticky
// partition for keyless records. It is called on the goroutine that calls
// Produce, so it needs no locking of its own for state only it touches
// from one goroutine.
type Partitioner func(rec *Record, n int32) (partition int32, ok bool)

// ProducerOption configures a Producer.
type ProducerOption func(*producerOptions)

type producerOptions struct {
	linger          time.Duration
	maxBatchBytes   int
	bufferBytes     int64
	failWhenFull    bool
	deliveryTimeout time.Duration
	acks            runnelv1.Acks
	partitioner     Partitioner
	notIdempotent   bool
	compression     compression.Codec
}

// WithLinger sets how long a partition's batch waits for more records
// before it is sent (default 5ms): longer makes larger batches.
func WithLinger(d time.Duration) ProducerOption {
	return func(o *producerOptions) { o.linger = max(d, 0) }
}

// WithMaxBatchBytes sets the size at which a partition's batch is sent
// without waiting for its linger (default 1 MiB).
func WithMaxBatchBytes(n int) ProducerOption {
	return func(o *producerOptions) { o.maxBatchBytes = max(n, 1) }
}

// WithMaxBufferedBytes bounds the bytes of records produced and not yet
// acknowledged or failed (default 64 MiB). A full buffer makes Produce
// wait, or fail with ErrBufferFull (WithFailWhenBufferFull).
func WithMaxBufferedBytes(n int64) ProducerOption {
	return func(o *producerOptions) { o.bufferBytes = max(n, 1) }
}

// WithFailWhenBufferFull makes Produce fail a record with ErrBufferFull
// at once when the buffer has no room for it, rather than wait.
func WithFailWhenBufferFull() ProducerOption {
	return func(o *producerOptions) { o.failWhenFull = true }
}

// WithDeliveryTimeout bounds how long a record may take, retries
// included, from Produce to its ack (default 2 minutes, as Kafka's
// delivery.timeout.ms).
func WithDeliveryTimeout(d time.Duration) ProducerOption {
	return func(o *producerOptions) { o.deliveryTimeout = max(d, time.Millisecond) }
}

// WithAcks sets how durable a record is when acknowledged. By default the
// producer leaves it to the receiver: a broker acknowledges as
// runnelv1.Acks_ACKS_ALL (on a quorum's disks), a sidecar once its spool
// has the records (runnel sidecar --help); ACKS_ALL through a sidecar
// waits for the cluster.
func WithAcks(a runnelv1.Acks) ProducerOption {
	return func(o *producerOptions) { o.acks = a }
}

// WithCompression compresses each batch with c (default
// compression.None), as franz-go's ProducerBatchCompression and Kafka's
// compression.type: the broker stores it as sent (unless the topic's
// compression.type names another codec), and sends it so to consumers
// that decompress it. Records get their timestamp in the batch (the time
// it is sent) when they have none, as the broker cannot add one to a
// compressed batch.
func WithCompression(c compression.Codec) ProducerOption {
	return func(o *producerOptions) {
		if c.Valid() {
			o.compression = c
		}
	}
}

// WithoutIdempotence turns the idempotent producer off (franz-go's
// DisableIdempotentWrite, Kafka's enable.idempotence=false): a batch whose
// outcome was unknown (a broken stream, an ack that timed out) is sent
// again and may then be appended twice. On by default.
func WithoutIdempotence() ProducerOption {
	return func(o *producerOptions) { o.notIdempotent = true }
}

// WithPartitioner sets a custom partitioner, consulted for records with
// no Partition of their own.
func WithPartitioner(p Partitioner) ProducerOption {
	return func(o *producerOptions) { o.partitioner = p }
}

// Producer sends records in batches, per partition, to the partitions'
// leaders. It is safe for concurrent use. Records produced one after
// another to one partition are appended in that order, retries included:
// a partition has one batch in flight at a time, and the batches of all
// the partitions a broker leads share one pipelined stream to it.
//
// Delivery is exactly once per partition while the producer runs: the
// producer is idempotent (see idempotence.go), so a batch sent again after
// an unknown outcome (the stream broke, the ack timed out, the leader
// changed) is appended once. WithoutIdempotence makes it at least once.
type Producer struct {
	c  *Client
	o  producerOptions
	id producerID

	mu       sync.Mutex
	closed   bool
	parts    map[topicPartition]*partitionQueue
	sticky   map[string]stickyPartition // per topic, for keyless records
	links    map[string]*link
	buffered int64
	room     chan struct{} // closed, and replaced, when buffered drops
	pending  int           // records produced and not yet resolved
	idle     chan struct{} // closed, and replaced, when pending drops to 0
}

// stickyPartition is where a topic's keyless records go, until its batch
// closes (moved): then the next keyless record picks another.
type stickyPartition struct {
	partition int32
	moved     bool
}

type topicPartition struct {
	topic     string
	partition int32
}

// Producer returns a producer that sends through c. Close it before c.
func (c *Client) Producer(opts ...ProducerOption) *Producer {
	o := producerOptions{linger: 5 * time.Millisecond, maxBatchBytes: 1 << 20, bufferBytes: 64 << 20,
		deliveryTimeout: 2 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	return &Producer{c: c, o: o, parts: map[topicPartition]*partitionQueue{}, sticky: map[string]stickyPartition{},
		links: map[string]*link{}, room: make(chan struct{}), idle: make(chan struct{})}
}

// Result is the outcome of one record produced with ProduceAsync.
type Result struct {
	done chan struct{}
	ack  Ack
	err  error
}

// Done is closed once the record is acknowledged or failed.
func (r *Result) Done() <-chan struct{} { return r.done }

// Wait waits for the record's outcome, or for ctx to end (which does not
// withdraw the record).
func (r *Result) Wait(ctx context.Context) (Ack, error) {
	select {
	case <-r.done:
		return r.ack, r.err
	case <-ctx.Done():
		return Ack{}, ctx.Err()
	}
}

// ProduceAsync buffers rec for sending and returns its Result at once
// (after waiting for buffer room, see WithMaxBufferedBytes).
func (p *Producer) ProduceAsync(ctx context.Context, rec *Record) *Result {
	r := &Result{done: make(chan struct{})}
	p.Produce(ctx, rec, func(a Ack, err error) {
		r.ack, r.err = a, err
		close(r.done)
	})
	return r
}

// ProduceSync produces rec and waits for its ack; it waits at most the
// linger for its batch to fill, so prefer Produce or ProduceAsync for
// throughput.
func (p *Producer) ProduceSync(ctx context.Context, rec *Record) (Ack, error) {
	return p.ProduceAsync(ctx, rec).Wait(ctx)
}

// Produce buffers rec for sending and calls done (which may be nil) once
// it is acknowledged or failed: with its Ack, or a *RecordError. It
// returns once rec is buffered, waiting for room while the buffer is full
// (or failing with ErrBufferFull, see WithFailWhenBufferFull) and, for a
// topic the client has not seen yet, for its metadata. ctx bounds only
// that wait. done is called on the producer's goroutines, in record order
// per partition: it must not block for long.
//
// rec must not be modified until done is called.
func (p *Producer) Produce(ctx context.Context, rec *Record, done func(Ack, error)) {
	if done == nil {
		done = func(Ack, error) {}
	}
	fail := func(part int32, err error) {
		done(Ack{}, &RecordError{Record: rec, Partition: part, Culprit: -1, Err: err})
	}
	size := rec.size()
	if err := p.reserve(ctx, int64(size)); err != nil {
		fail(-1, err)
		return
	}
	entry := &pendingRecord{rec: rec, size: size, done: done}
	meta, err := p.c.topic(ctx, rec.Topic, false)
	if err != nil {
		p.resolve(entry, Ack{}, &RecordError{Record: rec, Partition: -1, Culprit: -1, Err: err})
		return
	}
	n := int32(len(meta.partitions))
	part, sticky := p.partition(rec, n)
	if part < 0 || part >= n {
		p.resolve(entry, Ack{}, &RecordError{Record: rec, Partition: part, Culprit: -1,
			Err: status.Errorf(codes.InvalidArgument, "partition %d does not exist: topic %q has partitions 0 to %d", part, rec.Topic, n-1)})
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.resolve(entry, Ack{}, &RecordError{Record: rec, Partition: part, Culprit: -1, Err: ErrClosed})
		return
	}
	q := p.parts[topicPartition{rec.Topic, part}]
	if q == nil {
		q = &partitionQueue{p: p, topic: rec.Topic, partition: part}
		p.parts[topicPartition{rec.Topic, part}] = q
	}
	p.mu.Unlock()
	q.add(entry, sticky)
}

// partition chooses rec's partition; sticky says it is the topic's sticky
// one, to be changed when its batch closes.
func (p *Producer) partition(rec *Record, n int32) (int32, bool) {
	if rec.Partition != nil {
		return *rec.Partition, false
	}
	if p.o.partitioner != nil {
		if part, ok := p.o.partitioner(rec, n); ok {
			return part, false
		}
	}
	if len(rec.Key) > 0 {
		return partitioner.ForKey(rec.Key, n), false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sticky[rec.Topic]
	if !ok || s.moved || s.partition >= n {
		// NB: Kafka's sticky partitioner: a new partition for each batch,
		// another than the last when there is a choice.
		next := rand.Int32N(n)
		if ok && n > 1 && next == s.partition {
			next = (next + 1 + rand.Int32N(n-1)) % n
		}
		s = stickyPartition{partition: next}
		p.sticky[rec.Topic] = s
	}
	return s.partition, true
}

// unstick moves the topic's keyless records on from partition once its
// batch closed.
func (p *Producer) unstick(topic string, partition int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sticky[topic]; ok && s.partition == partition {
		p.sticky[topic] = stickyPartition{partition: partition, moved: true}
	}
}

func (p *Producer) reserve(ctx context.Context, size int64) error {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return ErrClosed
		}
		// NB: a record larger than the whole buffer goes when the buffer
		// is empty, rather than never.
		if p.buffered == 0 || p.buffered+size <= p.o.bufferBytes {
			p.buffered += size
			p.pending++
			p.mu.Unlock()
			return nil
		}
		room := p.room
		p.mu.Unlock()
		if p.o.failWhenFull {
			return ErrBufferFull
		}
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// resolve gives a record's buffer room back and reports its outcome; only
// then does it stop counting as pending, so that a Flush that returns has
// every record's Result resolved and callback run.
func (p *Producer) resolve(e *pendingRecord, a Ack, err error) {
	p.mu.Lock()
	p.buffered -= int64(e.size)
	close(p.room)
	p.room = make(chan struct{})
	p.mu.Unlock()
	e.done(a, err)
	p.mu.Lock()
	p.pending--
	if p.pending == 0 {
		close(p.idle)
		p.idle = make(chan struct{})
	}
	p.mu.Unlock()
}

// Flush sends every buffered record without waiting for linger, and
// waits until all the records produced so far, and any produced while it
// waits, are acknowledged or failed, or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		if p.pending == 0 {
			p.mu.Unlock()
			return nil
		}
		idle := p.idle
		queues := make([]*partitionQueue, 0, len(p.parts))
		for _, q := range p.parts {
			queues = append(queues, q)
		}
		p.mu.Unlock()
		for _, q := range queues {
			q.closeOpen(nil)
		}
		// NB: a record may join an open batch after the pass above: look
		// again every linger rather than wait for it.
		select {
		case <-idle:
		case <-time.After(max(p.o.linger, time.Millisecond)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close flushes the producer, waiting at most the delivery timeout, and
// then refuses new records with ErrClosed.
func (p *Producer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.o.deliveryTimeout)
	defer cancel()
	err := p.Flush(ctx)
	p.mu.Lock()
	p.closed = true
	links := p.links
	p.links = map[string]*link{}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	return err
}

func (p *Producer) linkTo(addr string) (*link, error) {
	conn, err := p.c.connTo(addr)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	l := p.links[addr]
	if l == nil {
		l = &link{addr: addr, conn: conn}
		p.links[addr] = l
	}
	return l, nil
}

type pendingRecord struct {
	rec  *Record
	size int
	done func(Ack, error)
}

type batch struct {
	records []*pendingRecord
	bytes   int
	created time.Time
}

// partitionQueue is one partition's records: the open batch, filling,
// and the closed ones waiting their turn. One goroutine at a time sends
// them (drain), one batch in flight, so that a retry can never land after
// a later batch.
type partitionQueue struct {
	p         *Producer
	topic     string
	partition int32

	mu      sync.Mutex
	open    *batch
	timer   *time.Timer
	closed  []*batch
	sending bool

	// The idempotent producer's epoch and next sequence number at the
	// partition: touched only by the goroutine draining the queue.
	epoch        int32
	nextSequence int64
}

func (q *partitionQueue) add(e *pendingRecord, sticky bool) {
	q.mu.Lock()
	if q.open != nil && q.open.bytes+e.size > q.p.o.maxBatchBytes {
		q.closeLocked()
	}
	if q.open == nil {
		b := &batch{created: time.Now()}
		q.open = b
		q.timer = time.AfterFunc(q.p.o.linger, func() { q.closeOpen(b) })
	}
	q.open.records = append(q.open.records, e)
	q.open.bytes += e.size
	full := q.open.bytes >= q.p.o.maxBatchBytes
	if full {
		q.closeLocked()
	}
	q.mu.Unlock()
	if sticky && full {
		q.p.unstick(q.topic, q.partition)
	}
}

// closeOpen closes the open batch if it is b (nil: whichever is open).
func (q *partitionQueue) closeOpen(b *batch) {
	q.mu.Lock()
	if q.open != nil && (b == nil || q.open == b) {
		q.closeLocked()
	}
	q.mu.Unlock()
	q.p.unstick(q.topic, q.partition)
}

func (q *partitionQueue) closeLocked() {
	q.timer.Stop()
	q.closed = append(q.closed, q.open)
	q.open, q.timer = nil, nil
	if !q.sending {
		q.sending = true
		go q.drain()
	}
}

func (q *partitionQueue) drain() {
	for {
		q.mu.Lock()
		if len(q.closed) == 0 {
			q.sending = false
			q.mu.Unlock()
			return
		}
		// NB: batches that closed while the last was in flight go out
		// as one request, up to the batch size.
		b := q.closed[0]
		q.closed = q.closed[1:]
		for len(q.closed) > 0 && b.bytes+q.closed[0].bytes <= q.p.o.maxBatchBytes {
			b.records = append(b.records, q.closed[0].records...)
			b.bytes += q.closed[0].bytes
			q.closed = q.closed[1:]
		}
		q.mu.Unlock()
		q.deliver(b)
	}
}

// retriable are the codes a batch is sent again on: the leader moved or
// is being elected, a broker is down or busy. Anything else (a record
// too large, a deleted topic) would fail again.
func retriable(c codes.Code) bool {
	return c == codes.Unavailable || c == codes.DeadlineExceeded || c == codes.ResourceExhausted
}

func (q *partitionQueue) deliver(b *batch) {
	p := q.p
	deadline := b.created.Add(p.o.deliveryTimeout)
	req := &runnelv1.ProduceRequest{Topic: q.topic, Partition: &q.partition, Acks: p.o.acks,
		Records: make([]*runnelv1.Record, len(b.records))}
	for i, e := range b.records {
		req.Records[i] = encode(e.rec)
	}
	if p.o.compression != compression.None {
		if err := compress(req, p.o.compression); err != nil {
			q.failed(b, err, -1)
			return
		}
	}
	stale, hint := false, ""
	backoff := 50 * time.Millisecond
	// resequenced: sent again in a new epoch once; unknown: an attempt
	// may have been appended (its outcome was not known).
	resequenced, unknown := false, false
	for attempt := 1; ; attempt++ {
		err := q.sequence(req)
		var resp *runnelv1.ProduceResponse
		if err == nil {
			resp, err = q.send(req, stale, hint)
		}
		if err == nil && resp.Error != nil {
			err = status.ErrorProto(resp.Error)
		}
		if err == nil {
			q.acked(b, resp)
			return
		}
		st := status.Convert(err)
		if st.Code() == codes.FailedPrecondition && req.ProducerId != 0 && !resequenced && !unknown {
			// NB: nothing of the batch was appended; its partition
			// lost track of the producer's sequence (see resequence).
			// Not after an attempt of unknown outcome: that one may be
			// in the log, and the batch sent anew would be twice.
			resequenced = true
			q.resequence(err)
			continue
		}
		if st.Code() == codes.FailedPrecondition && req.ProducerId != 0 && unknown {
			q.resequence(err)
			q.failed(b, fmt.Errorf("an earlier attempt's outcome is unknown, and the partition no longer knows the producer's sequence: the records may or may not have been appended: %w", err), -1)
			return
		}
		if retriable(st.Code()) {
			unknown = true
		}
		if !retriable(st.Code()) || errors.Is(err, ErrClosed) || time.Now().Add(backoff).After(deadline) {
			if retriable(st.Code()) {
				err = fmt.Errorf("delivery timeout (%s) after %d attempts: %w", p.o.deliveryTimeout, attempt, err)
			}
			if req.ProducerId != 0 && (retriable(st.Code()) || errors.Is(err, ErrClosed)) {
				// The batch may or may not be appended: the next one
				// cannot follow it in sequence.
				q.resequence(err)
			}
			q.failed(b, err, culprit(st))
			return
		}
		stale, hint = true, ""
		for _, d := range st.Details() {
			if nl, ok := d.(*runnelv1.NotLeader); ok && nl.LeaderAddress != "" {
				hint = nl.LeaderAddress
			}
		}
		p.c.opts.logger.Info("runnel producer: retrying a batch", "topic", q.topic, "partition", q.partition,
			"records", len(b.records), "attempt", attempt, "backoff", backoff, "err", err)
		time.Sleep(backoff + rand.N(backoff/2))
		backoff = min(2*backoff, time.Second)
	}
}

// send sends one request to the partition's leader (or to hint, the
// leader a NotLeader named) and waits for its response.
func (q *partitionQueue) send(req *runnelv1.ProduceRequest, stale bool, hint string) (*runnelv1.ProduceResponse, error) {
	p := q.p
	ctx, cancel := context.WithTimeout(context.Background(), p.c.opts.requestTimeout)
	defer cancel()
	addr := hint
	if addr == "" {
		meta, err := p.c.topic(ctx, q.topic, stale)
		if err != nil {
			if status.Code(err) == codes.NotFound || status.Code(err) == codes.InvalidArgument {
				return nil, err
			}
			return nil, status.Errorf(codes.Unavailable, "%v", err)
		}
		if int(q.partition) >= len(meta.partitions) {
			return nil, status.Errorf(codes.InvalidArgument, "partition %d does not exist: topic %q has %d partitions", q.partition, q.topic, len(meta.partitions))
		}
		addr = meta.partitions[q.partition].addr
		if addr == "" {
			// NB: no leader known: any broker forwards to it once
			// there is one.
			addr = p.c.candidates()[0]
		}
	}
	l, err := p.linkTo(addr)
	if err != nil {
		return nil, err
	}
	ch, err := l.send(req)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		l.forget(req.CorrelationId)
		return nil, status.Errorf(codes.DeadlineExceeded, "no ack from %s within %s", addr, p.c.opts.requestTimeout)
	}
}

func (q *partitionQueue) acked(b *batch, resp *runnelv1.ProduceResponse) {
	q.nextSequence += int64(len(b.records))
	var base int64 = -1
	count := 0
	for _, a := range resp.Acks {
		if a.Partition == q.partition {
			base, count = a.BaseOffset, int(a.RecordCount)
		}
	}
	for i, e := range b.records {
		if base < 0 && count == len(b.records) {
			// NB: a sidecar's spool acknowledged it, offset unknown.
			q.p.resolve(e, Ack{Topic: q.topic, Partition: q.partition, Offset: -1}, nil)
			continue
		}
		if base < 0 || i >= count {
			q.p.resolve(e, Ack{}, &RecordError{Record: e.rec, Partition: q.partition, Index: i, Culprit: -1,
				Err: fmt.Errorf("the broker acknowledged %d of the batch's %d records", count, len(b.records))})
			continue
		}
		q.p.resolve(e, Ack{Topic: q.topic, Partition: q.partition, Offset: base + int64(i)}, nil)
	}
}

func (q *partitionQueue) failed(b *batch, err error, culprit int) {
	for i, e := range b.records {
		q.p.resolve(e, Ack{}, &RecordError{Record: e.rec, Partition: q.partition, Index: i, Culprit: culprit, Err: err})
	}
}

// recordIndex finds the record the broker names in a refusal ("record 3
// is 2000000 bytes, over ..."), so the error of each record can say which
// one of its batch was refused.
var recordIndex = regexp.MustCompile(`^record (\d+)\b`)

func culprit(st *status.Status) int {
	if m := recordIndex.FindStringSubmatch(st.Message()); m != nil {
		if i, err := strconv.Atoi(m[1]); err == nil {
			return i
		}
	}
	return -1
}

func encode(r *Record) *runnelv1.Record {
	out := &runnelv1.Record{Key: r.Key, Value: r.Value}
	if !r.Timestamp.IsZero() {
		out.Timestamp = timestamppb.New(r.Timestamp)
	}
	if len(r.Headers) > 0 {
		out.Headers = make([]*runnelv1.Header, len(r.Headers))
		for i, h := range r.Headers {
			out.Headers[i] = &runnelv1.Header{Key: h.Key, Value: h.Value}
		}
	}
	return out
}
