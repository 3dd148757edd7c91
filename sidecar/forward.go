package sidecar

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/raftstore/spool"
)

// forwardTimeout is how long the forwarder waits for the cluster to
// answer its oldest batch in flight before it starts over on another
// connection.
const forwardTimeout = 15 * time.Second

// forwardReadBytes bounds what one read of the spool takes.
const forwardReadBytes = 4 << 20

// forwarder sends one queue's batches to the partition's leader, in
// order, at most spool.Window past the queue's cursor, and moves the
// cursor past what the cluster acknowledged.
type forwarder struct {
	s *Sidecar
	q *spool.Queue

	// oldest is when the first batch not forwarded was spooled (ms since
	// the epoch; 0: none waits).
	oldest  atomic.Int64
	lastErr atomic.Pointer[string]
	// notFoundSince is when the cluster started saying the topic does
	// not exist (zero: it does); batches before soloUntil are sent one a
	// request (a group of them was refused). The forwarding goroutine's.
	notFoundSince time.Time
	soloUntil     int64

	mu sync.Mutex // guards the fields below
	// waiters wait for the cluster's answer to the batch at an offset
	// (end-to-end acks); results keeps the last answers, for a waiter
	// that came after its batch was forwarded.
	waiters map[int64][]chan forwardResult
	results map[int64]forwardResult
	order   []int64
}

type forwardResult struct {
	base int64 // the cluster offset of the batch's first record
	err  error
}

// keptResults is how many answers a forwarder keeps for late waiters.
const keptResults = 4096

func newForwarder(s *Sidecar, q *spool.Queue) *forwarder {
	return &forwarder{s: s, q: q, waiters: map[int64][]chan forwardResult{}, results: map[int64]forwardResult{}}
}

// wait returns the cluster offset the batch spooled at offset got.
func (f *forwarder) wait(ctx context.Context, offset int64) (int64, error) {
	f.mu.Lock()
	if r, ok := f.results[offset]; ok {
		f.mu.Unlock()
		return r.base, r.err
	}
	ch := make(chan forwardResult, 1)
	f.waiters[offset] = append(f.waiters[offset], ch)
	f.mu.Unlock()
	select {
	case r := <-ch:
		return r.base, r.err
	case <-ctx.Done():
		return 0, status.FromContextError(ctx.Err()).Err()
	}
}

func (f *forwarder) resolve(offset int64, r forwardResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.waiters[offset] {
		ch <- r
	}
	delete(f.waiters, offset)
	f.results[offset] = r
	f.order = append(f.order, offset)
	if len(f.order) > keptResults {
		delete(f.results, f.order[0])
		f.order = f.order[1:]
	}
}

// run forwards until ctx ends, starting a new session after each failure,
// with backoff.
func (f *forwarder) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		progressed, err := f.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			msg := err.Error()
			f.lastErr.Store(&msg)
			f.s.metrics.upstreamErrors.WithLabelValues(status.Code(err).String()).Inc()
			f.s.logger.Debug("sidecar: forwarding", "topic", f.q.Topic, "partition", f.q.Partition, "err", err)
			f.s.meta.stale(f.q.Topic)
		}
		if progressed {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// A group is consecutive spooled batches sent as one request: one
// sequence number, the records of all. Uncompressed batches coalesce up
// to groupBytes; a compressed one is a group of its own.
type group struct {
	batches []spool.Batch
	resp    *runnelv1.ProduceResponse // nil until answered
}

func (g *group) first() spool.Batch { return g.batches[0] }
func (g *group) last() spool.Batch  { return g.batches[len(g.batches)-1] }
func (g *group) end() int64         { return g.last().End() }

// groupBytes bounds a group's payload.
const groupBytes = 1 << 20

// nextGroup reads the group that starts at offset from (nil when nothing
// durable is there yet): up to end when end > 0 (a group recorded as
// sent, read again as it was), else as many batches as coalesce.
func (f *forwarder) nextGroup(from, end int64) (*group, <-chan struct{}, error) {
	g := &group{}
	size := 0
	for {
		bs, changed, err := f.q.Read(from, groupBytes)
		if err != nil {
			return nil, nil, err
		}
		if len(bs) == 0 {
			if end > 0 {
				return nil, nil, fmt.Errorf("spool: the group recorded as sent up to offset %d ends at %d", end, from)
			}
			if len(g.batches) == 0 {
				return nil, changed, nil
			}
			return g, changed, nil
		}
		for _, b := range bs {
			switch {
			case end > 0 && b.Offset >= end:
				return g, changed, nil
			case end > 0:
			case len(g.batches) > 0 && (b.Codec != 0 || g.first().Codec != 0 || size+len(b.Payload) > groupBytes || from < f.soloUntil):
				return g, changed, nil
			}
			g.batches = append(g.batches, b)
			size += len(b.Payload)
			from = b.End()
			if end == 0 && (b.Codec != 0 || from <= f.soloUntil) {
				return g, changed, nil
			}
		}
		if end > 0 && from >= end {
			return g, changed, nil
		}
	}
}

// request is the produce request of group g in cursor c's epoch.
func (f *forwarder) request(pid int64, c spool.Cursor, g *group) (*runnelv1.ProduceRequest, error) {
	req := &runnelv1.ProduceRequest{}
	// NB: each payload is a ProduceRequest with only records (or only
	// compressed_records, alone in its group): decoding them one after
	// another into req appends the records in order.
	for _, b := range g.batches {
		opts := proto.UnmarshalOptions{Merge: true}
		if err := opts.Unmarshal(b.Payload, req); err != nil {
			return nil, fmt.Errorf("spooled batch at offset %d: %w", b.Offset, err)
		}
	}
	part := f.q.Partition
	req.Topic, req.Partition, req.CorrelationId, req.Acks = f.q.Topic, &part, uint64(g.first().Offset)+1, runnelv1.Acks_ACKS_ALL
	req.ProducerId, req.ProducerEpoch, req.BaseSequence = pid, c.Epoch, c.Sequence(g.first())
	return req, nil
}

// session forwards on one stream until it fails: it returns whether the
// cursor moved, and why it stopped. The groups the cursor records as
// sent are sent again first, as they were; new ones are recorded in the
// cursor before they are sent, at most spool.Window in flight.
func (f *forwarder) session(ctx context.Context) (progressed bool, err error) {
	pid, err := f.s.spool.UpstreamProducer(func() (int64, error) { return f.s.initProducer(ctx) })
	if err != nil {
		return false, err
	}
	cur := f.q.Cursor()
	// Wait for something to send before opening a stream.
	for {
		bs, changed, err := f.q.Read(cur.Offset, 1)
		if err != nil {
			return false, err
		}
		if len(bs) > 0 {
			f.oldest.Store(bs[0].SpooledAt)
			break
		}
		f.oldest.Store(0)
		select {
		case <-changed:
		case <-ctx.Done():
			return false, nil
		}
	}
	if _, err := f.s.meta.topic(ctx, f.q.Topic); status.Code(err) == codes.NotFound {
		if f.gone() {
			return false, f.drop(cur, err)
		}
		return false, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, addr, err := f.s.openProduce(sctx, f.q.Topic, f.q.Partition)
	if err != nil {
		return false, err
	}
	responses := make(chan *runnelv1.ProduceResponse, spool.Window)
	recvErr := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			responses <- resp
		}
	}()
	send := func(g *group) error {
		req, err := f.request(pid, cur, g)
		if err == nil {
			err = stream.Send(req)
		}
		if err != nil {
			return fmt.Errorf("send to %s: %w", addr, err)
		}
		return nil
	}

	var window []*group
	next := cur.Offset
	for _, end := range cur.Pending() {
		g, _, err := f.nextGroup(next, end)
		if err != nil {
			return false, err
		}
		if err := send(g); err != nil {
			return false, err
		}
		window = append(window, g)
		next = end
	}
	timer := time.NewTimer(forwardTimeout)
	defer timer.Stop()
	dirty := false // cur moved in memory, not yet on disk
	for {
		// New groups, recorded before they are sent.
		var fresh []*group
		var changed <-chan struct{}
		for len(window)+len(fresh) < spool.Window {
			g, ch, err := f.nextGroup(next, 0)
			if err != nil {
				return progressed, err
			}
			changed = ch
			if g == nil {
				break
			}
			fresh = append(fresh, g)
			next = g.end()
		}
		if len(fresh) > 0 || dirty {
			ends := make([]int64, 0, len(window)+len(fresh))
			for _, g := range append(window[:len(window):len(window)], fresh...) {
				ends = append(ends, g.end())
			}
			if err := f.q.Advance(cur.WithPending(ends)); err != nil {
				return progressed, err
			}
			cur, dirty = f.q.Cursor(), false
		}
		for _, g := range fresh {
			if err := send(g); err != nil {
				return progressed, err
			}
			if len(window) == 0 {
				timer.Reset(forwardTimeout)
			}
			window = append(window, g)
		}
		var timeout <-chan time.Time
		if len(window) == 0 {
			f.oldest.Store(0)
		} else {
			f.oldest.Store(window[0].first().SpooledAt)
			timeout = timer.C
		}
		if len(window) == spool.Window {
			changed = nil // no room: only an answer helps
		}
		select {
		case resp := <-responses:
			for _, g := range window {
				if uint64(g.first().Offset)+1 == resp.CorrelationId {
					g.resp = resp
				}
			}
		case err := <-recvErr:
			return progressed, fmt.Errorf("stream to %s: %w", addr, err)
		case <-changed:
			continue
		case <-timeout:
			return progressed, status.Errorf(codes.DeadlineExceeded, "%s did not answer the batch at spool offset %d within %s", addr, window[0].first().Offset, forwardTimeout)
		case <-ctx.Done():
			return progressed, nil
		}
		// Take the answered prefix of the window: the acknowledged
		// groups move the cursor; a refusal ends the session (what was
		// sent after it is sent again, after it).
		n := 0
		for n < len(window) && window[n].resp != nil && window[n].resp.Error == nil {
			n++
		}
		if n > 0 {
			f.acked(window[:n])
			last := window[n-1].last()
			cur.Offset, cur.Index = last.End(), last.Index+1
			dirty, progressed = true, true
			window = window[n:]
			f.notFoundSince = time.Time{}
			if len(window) > 0 {
				timer.Reset(forwardTimeout)
			}
		}
		if len(window) > 0 && window[0].resp != nil {
			err := status.ErrorProto(window[0].resp.Error)
			// NB: a group refused for good appended nothing, nor did
			// those sent after it (their sequence leaves a gap): the
			// cursor records nothing pending. Any other error may hide an
			// append (a broker that forwarded it lost the answer): the
			// groups stay pending, to be sent again as they were.
			pending := cur.WithPending(nil)
			if !definitive(err) {
				ends := make([]int64, len(window))
				for i, g := range window {
					ends[i] = g.end()
				}
				pending = cur.WithPending(ends)
			}
			if err := f.q.Advance(pending); err != nil {
				return progressed, err
			}
			cur = f.q.Cursor()
			return progressed, f.refused(&cur, window[0], err)
		}
	}
}

// acked gives the acknowledged groups' waiters the cluster's offsets.
func (f *forwarder) acked(done []*group) {
	var records, bytes float64
	for _, g := range done {
		base := int64(-1)
		if acks := g.resp.Acks; len(acks) > 0 {
			base = acks[0].BaseOffset
		}
		for _, b := range g.batches {
			records += float64(b.Count)
			bytes += float64(len(b.Payload))
			r := forwardResult{base: -1}
			if base >= 0 {
				r.base = base + (b.Offset - g.first().Offset)
			}
			f.resolve(b.Offset, r)
		}
	}
	f.s.metrics.forwardedRecords.Add(records)
	f.s.metrics.forwardedBytes.Add(bytes)
}

// refused decides what a refusal of batch b means. It returns nil when
// the batch is dropped (the cluster will never take it: the cursor then
// moves past it, in a new epoch), or the error to start over with.
func (f *forwarder) refused(cur *spool.Cursor, g *group, err error) error {
	code := status.Code(err)
	if !definitive(err) {
		return err
	}
	if len(g.batches) > 1 && code != codes.FailedPrecondition && code != codes.NotFound {
		// NB: one batch of the group is refused, or the group is too
		// large: its batches go alone, so that only what the cluster
		// will never take is dropped.
		f.soloUntil = g.end()
		return err
	}
	b := g.first()
	switch {
	case code == codes.FailedPrecondition:
		// Every group before g was acknowledged, and the partition
		// refused g, appending nothing: it does not know the sidecar's
		// producer at this sequence (it forgot it, idle past the
		// cluster's --producer-id-expiration), or g overtook the group
		// before it on a broken forwarding link. (It cannot be a group
		// appended before and out of the partition's memory, nor one
		// appended with other bounds: the cursor records every group sent
		// past it, at most spool.Window, before it is sent.) So g starts
		// a new epoch: nothing is appended twice.
		c, eerr := f.q.NewEpoch()
		if eerr != nil {
			return eerr
		}
		*cur = c
		f.s.logger.Warn("sidecar: the cluster refused the forwarder's sequence; starting a new producer epoch",
			"topic", f.q.Topic, "partition", f.q.Partition, "offset", b.Offset, "epoch", c.Epoch, "err", err)
		return err
	case code == codes.NotFound && f.gone():
		return f.drop(*cur, err, g.batches...)
	case code == codes.NotFound:
		return err
	}
	return f.drop(*cur, err, g.batches...)
}

// definitive reports whether a refusal means the partition appended
// nothing of the request (and will not): an error that says the request
// was checked and turned down. Others (unavailable, timed out, internal)
// leave the outcome unknown.
func definitive(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.OutOfRange, codes.PermissionDenied,
		codes.Unauthenticated, codes.AlreadyExists:
		return true
	}
	return false
}

// topicGoneAfter is how long the cluster must keep saying a topic does
// not exist before its spooled records are dropped: a broker that has
// not applied the topic's creation yet says so too.
const topicGoneAfter = 30 * time.Second

// gone reports whether the topic has been missing for topicGoneAfter.
func (f *forwarder) gone() bool {
	if f.notFoundSince.IsZero() {
		f.notFoundSince = time.Now()
	}
	return time.Since(f.notFoundSince) >= topicGoneAfter
}

// drop gives up the batches the cluster will never take (the topic is
// gone, a record is refused): the sidecar acknowledged them, so this is a
// loss, logged and counted, never silent.
func (f *forwarder) drop(cur spool.Cursor, err error, only ...spool.Batch) error {
	bs := only
	if len(bs) == 0 {
		read, _, rerr := f.q.Read(cur.Offset, forwardReadBytes)
		if rerr != nil {
			return rerr
		}
		bs = read
	}
	if len(bs) == 0 {
		return err
	}
	for _, b := range bs {
		f.s.metrics.dropped.WithLabelValues(status.Code(err).String()).Add(float64(b.Count))
		f.s.logger.Error("sidecar: the cluster refused spooled records, which are dropped", "topic", f.q.Topic, "partition", f.q.Partition,
			"offset", b.Offset, "records", b.Count, "err", err)
		f.resolve(b.Offset, forwardResult{err: err})
	}
	last := bs[len(bs)-1]
	c := cur.WithPending(nil)
	c.Offset, c.Index = last.End(), last.Index+1
	if aerr := f.q.Advance(c); aerr != nil {
		return aerr
	}
	// NB: the sequence skipped the dropped batches: the next one starts
	// a new epoch.
	if _, eerr := f.q.NewEpoch(); eerr != nil {
		return eerr
	}
	return nil
}

// errNoUpstream: no upstream broker could be reached.
var errNoUpstream = errors.New("no upstream broker reachable")

// openProduce opens a Produce stream to the partition's leader when the
// sidecar knows it, else to an upstream broker (which forwards).
func (s *Sidecar) openProduce(ctx context.Context, topic string, partition int32) (runnelv1.ProduceService_ProduceClient, string, error) {
	addrs := s.up.order()
	if l := s.meta.leader(topic, partition); l != "" {
		addrs = append([]string{l}, addrs...)
	}
	var errs []error
	for _, addr := range addrs {
		c, err := s.up.conn(addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stream, err := runnelv1.NewProduceServiceClient(c).Produce(ctx, grpc.WaitForReady(false))
		if err == nil {
			return stream, addr, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, "", status.Errorf(codes.Unavailable, "%v: %v", errNoUpstream, errors.Join(errs...))
}

// initProducer asks the cluster for the sidecar's producer id.
func (s *Sidecar) initProducer(ctx context.Context) (int64, error) {
	var id int64
	err := s.up.call(ctx, func(c *grpc.ClientConn) error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := runnelv1.NewProduceServiceClient(c).InitProducer(cctx, &runnelv1.InitProducerRequest{})
		if err == nil {
			id = resp.ProducerId
		}
		return err
	})
	return id, err
}
