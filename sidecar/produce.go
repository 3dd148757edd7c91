package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/partitioner"
	"github.com/runnel-broker/runnel/raftstore/spool"
	"github.com/runnel-broker/runnel/recordbatch"
)

// maxInFlight bounds the requests of one stream taken and not yet
// answered (their records are spooled already: only the answer waits).
const maxInFlight = 64

type produceService struct {
	runnelv1.UnimplementedProduceServiceServer
	s *Sidecar
	// sticky spreads keyless records without a partition: each request's
	// go to the next partition in turn.
	sticky atomic.Uint32
}

// Produce takes each request's records into the spool in the order they
// come, and answers each once it is durable there (or, end to end, once
// the cluster acknowledged it), in request order.
func (p *produceService) Produce(stream runnelv1.ProduceService_ProduceServer) error {
	ctx := stream.Context()
	responses := make(chan func() *runnelv1.ProduceResponse, maxInFlight)
	sent := make(chan error, 1)
	go func() {
		var err error
		for next := range responses {
			resp := next()
			if err == nil {
				err = stream.Send(resp)
			}
		}
		sent <- err
	}()
	for {
		req, err := stream.Recv()
		if err != nil {
			close(responses)
			if serr := <-sent; serr != nil {
				return serr
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		responses <- p.take(ctx, req)
	}
}

// take spools req and returns what waits for its answer.
func (p *produceService) take(ctx context.Context, req *runnelv1.ProduceRequest) func() *runnelv1.ProduceResponse {
	id := req.CorrelationId
	fail := func(err error) func() *runnelv1.ProduceResponse {
		p.s.metrics.refused.WithLabelValues(grpcstatus.Code(err).String()).Inc()
		st := grpcstatus.Convert(err)
		return func() *runnelv1.ProduceResponse {
			return &runnelv1.ProduceResponse{CorrelationId: id, Error: &status.Status{Code: int32(st.Code()), Message: st.Message()}}
		}
	}
	parts, err := p.split(ctx, req)
	if err != nil {
		return fail(err)
	}
	endToEnd := req.Acks == runnelv1.Acks_ACKS_ALL || req.Acks == runnelv1.Acks_ACKS_LEADER ||
		(req.Acks == runnelv1.Acks_ACKS_UNSPECIFIED && p.s.cfg.EndToEnd)
	type taken struct {
		q *spool.Queue
		f *forwarder
		a spool.Appended
		n int
	}
	done := make([]taken, len(parts))
	batches := make([]spool.QueueBatch, len(parts))
	for i, part := range parts {
		q, f, err := p.s.queue(req.Topic, part.partition)
		if err != nil {
			return fail(spoolStatus(err))
		}
		done[i] = taken{q: q, f: f, n: int(part.batch.Count)}
		batches[i] = spool.QueueBatch{Queue: q, Batch: part.batch}
	}
	// NB: all or nothing when the spool is full; a failed disk (or an
	// application producer's error, which needs one partition) may leave
	// a request split over partitions spooled in part: as a broker's, its
	// answer says it failed, and what was spooled is forwarded.
	appended, err := p.s.spool.AppendAll(batches)
	p.s.metrics.spooled.Add(float64(countOf(parts[:len(appended)])))
	if err != nil {
		return fail(spoolStatus(err))
	}
	for i, a := range appended {
		done[i].a = a
	}
	answer := make(chan *runnelv1.ProduceResponse, 1)
	go func() {
		resp := &runnelv1.ProduceResponse{CorrelationId: id}
		for _, t := range done {
			if err := t.q.Sync(t.a); err != nil {
				answer <- fail(spoolStatus(err))()
				return
			}
		}
		for _, t := range done {
			ack := &runnelv1.ProduceAck{Partition: t.q.Partition, BaseOffset: -1, RecordCount: int32(t.n)}
			if endToEnd {
				base, err := t.f.wait(ctx, t.a.Offset)
				if err != nil {
					answer <- fail(err)()
					return
				}
				ack.BaseOffset = base
			}
			resp.Acks = append(resp.Acks, ack)
		}
		answer <- resp
	}()
	return func() *runnelv1.ProduceResponse { return <-answer }
}

// countOf is the records of parts.
func countOf(parts []partBatch) int {
	n := 0
	for _, p := range parts {
		n += int(p.batch.Count)
	}
	return n
}

// spoolStatus is the status of a spool error.
func spoolStatus(err error) error {
	switch {
	case errors.Is(err, spool.ErrFull):
		return grpcstatus.Errorf(codes.ResourceExhausted, "the sidecar's spool is full: %v; nothing of this request was taken: retry once the sidecar has forwarded its backlog (see runnel sidecar status), or give it a larger --spool-bytes", err)
	case errors.Is(err, spool.ErrFenced), errors.Is(err, spool.ErrOutOfOrder):
		return grpcstatus.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, spool.ErrClosed):
		return grpcstatus.Error(codes.Unavailable, "the sidecar is shutting down; requests not answered were not taken")
	}
	return grpcstatus.Errorf(codes.Unavailable, "the sidecar's spool cannot take records: %v", err)
}

// partBatch is a request's records for one partition.
type partBatch struct {
	partition int32
	batch     spool.Batch
}

// split validates req as a broker would, and returns its records as one
// batch per partition, their records encoded as the payload that is sent
// upstream (a ProduceRequest with only records, or only
// compressed_records).
func (p *produceService) split(ctx context.Context, req *runnelv1.ProduceRequest) ([]partBatch, error) {
	if req.Topic == "" {
		return nil, grpcstatus.Error(codes.InvalidArgument, "topic is empty: name the topic to produce to")
	}
	hasRecords, hasCompressed := len(req.Records) > 0, req.CompressedRecords != nil
	switch {
	case hasRecords && hasCompressed:
		return nil, grpcstatus.Error(codes.InvalidArgument, "a request carries records or compressed_records, not both")
	case !hasRecords && !hasCompressed:
		return nil, grpcstatus.Error(codes.InvalidArgument, "a produce request needs at least one record")
	case (req.ProducerId != 0 || hasCompressed) && req.Partition == nil:
		return nil, grpcstatus.Error(codes.InvalidArgument, "producer_id and compressed_records need partition")
	case req.ProducerId < 0 || req.BaseSequence < 0:
		return nil, grpcstatus.Error(codes.InvalidArgument, "producer_id and base_sequence are not negative")
	}
	t, err := p.s.meta.topic(ctx, req.Topic)
	if err != nil {
		return nil, err
	}
	if req.Partition != nil && (*req.Partition < 0 || *req.Partition >= t.Partitions) {
		return nil, grpcstatus.Errorf(codes.InvalidArgument, "partition %d does not exist: topic %q has %d partitions", *req.Partition, req.Topic, t.Partitions)
	}
	now := time.Now()
	base := spool.Batch{SpooledAt: now.UnixMilli(), ProducerID: req.ProducerId, ProducerEpoch: req.ProducerEpoch, BaseSequence: req.BaseSequence}
	if hasCompressed {
		b, err := compressedBatch(req.CompressedRecords, t.MaxMessageBytes)
		if err != nil {
			return nil, err
		}
		b.SpooledAt, b.ProducerID, b.ProducerEpoch, b.BaseSequence = base.SpooledAt, base.ProducerID, base.ProducerEpoch, base.BaseSequence
		return []partBatch{{*req.Partition, b}}, nil
	}
	stamp := timestamppb.New(now)
	byPartition := map[int32][]*runnelv1.Record{}
	var order []int32
	keyless := int32(p.sticky.Add(1) % uint32(t.Partitions))
	for i, r := range req.Records {
		if size := proto.Size(r); size > t.MaxMessageBytes {
			return nil, grpcstatus.Errorf(codes.InvalidArgument, "record %d is %d bytes encoded, past topic %q's max.message.bytes (%d)", i, size, req.Topic, t.MaxMessageBytes)
		}
		if r.Timestamp == nil {
			// NB: the time the application produced it, not the time the
			// cluster gets it, which an outage may delay.
			r.Timestamp = stamp
		}
		r.Offset = 0
		part := keyless
		switch {
		case req.Partition != nil:
			part = *req.Partition
		case len(r.Key) > 0:
			part = partitioner.ForKey(r.Key, t.Partitions)
		}
		if _, ok := byPartition[part]; !ok {
			order = append(order, part)
		}
		byPartition[part] = append(byPartition[part], r)
	}
	out := make([]partBatch, 0, len(order))
	for _, part := range order {
		recs := byPartition[part]
		payload, err := proto.Marshal(&runnelv1.ProduceRequest{Records: recs})
		if err != nil {
			return nil, grpcstatus.Errorf(codes.InvalidArgument, "encode the records: %v", err)
		}
		b := base
		b.Count, b.Payload = uint32(len(recs)), payload
		b.FirstTimestamp, b.MaxTimestamp = timestamps(recs)
		out = append(out, partBatch{part, b})
	}
	return out, nil
}

func timestamps(recs []*runnelv1.Record) (first, maxTS int64) {
	for i, r := range recs {
		ts := r.Timestamp.AsTime().UnixMilli()
		if i == 0 {
			first = ts
		}
		maxTS = max(maxTS, ts)
	}
	return first, maxTS
}

// compressedBatch checks a compressed batch as the broker will (each
// record decodes, carries a timestamp, and fits max.message.bytes), so
// that what the sidecar acknowledges the cluster takes.
func compressedBatch(c *runnelv1.CompressedRecords, maxMessageBytes int) (spool.Batch, error) {
	var recs []*runnelv1.Record
	err := recordbatch.Each(c, func(i int, rb []byte) error {
		if len(rb) > maxMessageBytes {
			return fmt.Errorf("record %d is %d bytes encoded, past max.message.bytes (%d)", i, len(rb), maxMessageBytes)
		}
		r := &runnelv1.Record{}
		if err := proto.Unmarshal(rb, r); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if r.Timestamp == nil {
			return fmt.Errorf("record %d has no timestamp: a compressed batch's records carry theirs", i)
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return spool.Batch{}, grpcstatus.Errorf(codes.InvalidArgument, "compressed_records: %v", err)
	}
	payload, err := proto.Marshal(&runnelv1.ProduceRequest{CompressedRecords: &runnelv1.CompressedRecords{Compression: c.Compression, Data: c.Data, RecordCount: c.RecordCount}})
	if err != nil {
		return spool.Batch{}, fmt.Errorf("encode the batch: %w", err)
	}
	first, maxTS := timestamps(recs)
	return spool.Batch{Count: uint32(c.RecordCount), FirstTimestamp: first, MaxTimestamp: maxTS, Codec: uint8(c.Compression), Payload: payload}, nil
}

// InitProducer gives an application's idempotent producer an id, unique
// in this sidecar's spool (the sidecar forwards as its own producer).
func (p *produceService) InitProducer(ctx context.Context, _ *runnelv1.InitProducerRequest) (*runnelv1.InitProducerResponse, error) {
	id, err := p.s.spool.NextProducerID()
	if err != nil {
		return nil, spoolStatus(err)
	}
	return &runnelv1.InitProducerResponse{ProducerId: id}, nil
}
