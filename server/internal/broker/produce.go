package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/runnel-broker/runnel/compression"
	"github.com/runnel-broker/runnel/partitioner"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/catalog"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/records"
)

// PendingProduce is a produce request handed to raft, or to be sent to
// the brokers that serve its partitions (Forwards), its acks not yet
// known.
type PendingProduce struct {
	broker   *Broker
	topic    string
	parts    []*pendingPartition
	forwards []*Forward
}

type pendingPartition struct {
	partition int32
	count     int
	proposal  *raftstore.Proposal
	forwarded func(context.Context) (int64, error) // or this, for a partition another broker serves
	err       error
}

// Forward is one partition's records of a produce request that another
// broker serves: the caller sends Request to the first of To that takes
// it (in Produce call order, so that requests keep their order), and
// hands Resolve the outcome, before PendingProduce.Wait.
type Forward struct {
	To      []Member
	Request ProduceRequest
	part    *pendingPartition
	// failed is the error a failure to send becomes.
	failed func(error) error
}

// Resolve records how sending the Forward went: a wait for the base
// offset, or why no broker of To took it.
func (f *Forward) Resolve(wait func(context.Context) (int64, error), err error) {
	if err != nil {
		f.part.err = f.failed(err)
		return
	}
	f.part.forwarded = wait
	// NB: the records are sent; the pending produce keeps no reference
	// to them (they alias the producer's message) while it waits.
	f.Request = ProduceRequest{}
}

// Forwards returns what this broker does not serve itself.
func (pp *PendingProduce) Forwards() []*Forward { return pp.forwards }

// ProduceRequest is one request to append records to a topic.
type ProduceRequest struct {
	Topic string
	// Partition is where every record goes; nil: each where the
	// partitioner puts it.
	Partition *int32
	// Records are the records as the producer encoded them
	// (runnel.v1.Record): they are stored as sent, never decoded and
	// encoded again.
	Records [][]byte
	// Durability is when the records are acknowledged (the request's
	// acks).
	Durability raftstore.Durability
	// LeaderEpoch, if set, fences the request to the partition's leader
	// in that raft term (runnel.v1.ProduceRequest.leader_epoch).
	LeaderEpoch uint64
	// Compressed holds the records compressed as one batch, instead of
	// Records (runnel.v1.ProduceRequest.compressed_records).
	Compressed *Compressed
	// Producer identifies an idempotent producer's batch (ID 0: none).
	Producer Producer
	// Forwarded says another broker sent the request here: it is served
	// here or fails, never forwarded again.
	Forwarded bool
}

// Compressed is a producer's batch of records compressed as one block
// (runnel.v1.CompressedRecords): each record length-prefixed, as stored.
type Compressed struct {
	Codec compression.Codec
	Data  []byte
	Count int
}

// Producer is an idempotent producer's identity and sequence on a
// request (runnel.v1.ProduceRequest's producer_id, producer_epoch and
// base_sequence): the partition appends the records at most once.
type Producer struct {
	ID       int64
	Epoch    int32
	Sequence int64
}

// check refuses what a producer identity can never be.
func (p Producer) check(partition *int32) error {
	switch {
	case p.ID == 0:
		if p.Epoch != 0 || p.Sequence != 0 {
			return errs.Newf(ErrInvalid, "producer_epoch and base_sequence need producer_id (from InitProducer)")
		}
	case p.ID < 0:
		return errs.Newf(ErrInvalid, "producer_id %d is negative: use the id InitProducer returned", p.ID)
	case p.Epoch < 0 || p.Sequence < 0:
		return errs.Newf(ErrInvalid, "producer_epoch %d and base_sequence %d must not be negative", p.Epoch, p.Sequence)
	case partition == nil:
		return errs.Newf(ErrInvalid, "an idempotent request (producer_id %d) names its partition: sequence numbers count per partition", p.ID)
	}
	return nil
}

// Produce validates a produce request, assigns each record its partition
// and submits one batch per partition. Produce does not wait for the
// batches to commit (see PendingProduce.Wait), so a stream can pipeline
// requests: requests submitted one after another keep their order per
// partition. Records without a timestamp get the current time.
//
// A partition this broker does not serve becomes a Forward: to its
// replicas when it has none here, to the leader when it is a follower;
// a request forwarded here is served here or fails.
func (b *Broker) Produce(ctx context.Context, req ProduceRequest) (*PendingProduce, error) {
	topic, partition, recs := req.Topic, req.Partition, req.Records
	t, err := b.catalog.Topic(topic)
	if err != nil {
		return nil, err
	}
	var parsed []records.Record
	if req.Compressed != nil {
		// NB: the records alias the decompressed batch until the
		// partitions' batches are built, by the time Produce returns.
		if err := b.decompressing.Acquire(ctx, decompressLimit); err != nil {
			return nil, err
		}
		defer b.decompressing.Release(decompressLimit)
		if parsed, err = parseCompressed(req, t); err != nil {
			return nil, err
		}
	} else if len(recs) == 0 {
		return nil, errs.Newf(ErrInvalid, "the request has no records")
	}
	if partition != nil && (*partition < 0 || *partition >= t.Partitions) {
		return nil, errs.Newf(ErrInvalid, "partition %d does not exist: topic %q has partitions 0 to %d",
			*partition, topic, t.Partitions-1)
	}
	if req.LeaderEpoch != 0 && partition == nil {
		return nil, errs.Newf(ErrInvalid, "leader_epoch %d fences one partition's leader: set partition too", req.LeaderEpoch)
	}
	if err := req.Producer.check(partition); err != nil {
		return nil, err
	}
	now := timestampNow()
	if req.Compressed == nil {
		parsed = make([]records.Record, len(recs))
	}
	for i := range parsed {
		raw := parsed[i].Bytes
		if req.Compressed == nil {
			raw = recs[i]
		}
		if len(raw) > t.Config.MaxMessageBytes {
			return nil, errs.Newf(ErrInvalid, "record %d is %d bytes, over the topic's %s of %d bytes",
				i, len(raw), catalog.MaxMessageBytes, t.Config.MaxMessageBytes)
		}
		if req.Compressed == nil {
			if parsed[i], err = records.Parse(raw); err != nil {
				return nil, errs.Newf(ErrInvalid, "record %d: %v", i, err)
			}
		}
		if err := checkTimestamp(&t.Config, &parsed[i], now); err != nil {
			return nil, errs.Newf(ErrInvalid, "record %d: %v", i, err)
		}
	}
	enc := storedEncoding(req.Compressed, &t.Config, parsed)
	byPartition := b.assign(t, partition, parsed)
	// NB: every batch is checked before any is submitted, so that a
	// request refused for its size appends nothing.
	if err := checkBatchSizes(byPartition, now, raftstore.MaxEntryBytes); err != nil {
		return nil, err
	}
	pending := &PendingProduce{broker: b, topic: topic}
	for _, p := range slices.Sorted(maps.Keys(byPartition)) {
		pp := &pendingPartition{partition: p, count: len(byPartition[p])}
		pending.parts = append(pending.parts, pp)
		one := ProduceRequest{Topic: topic, Partition: &p, Durability: req.Durability,
			LeaderEpoch: req.LeaderEpoch, Producer: req.Producer}
		if req.Compressed != nil {
			one.Compressed = req.Compressed // NB: forwarded as sent, compressed
		} else {
			one.Records = rawRecords(byPartition[p])
		}
		part, _, err := b.partition(topic, p)
		if nr, ok := errors.AsType[*NotReplicatedError](err); ok && !req.Forwarded {
			// NB: not knowing the term, this broker cannot fence the
			// request as a follower does (produceReplicated).
			pending.forwards = append(pending.forwards, &Forward{To: nr.Replicas, Request: one, part: pp,
				failed: func(err error) error { return fmt.Errorf("%w: %v", nr, err) }})
			continue
		}
		if err == nil {
			var fw *Forward
			fw, pp.proposal, err = b.produceReplicated(ctx, part, one, req.Forwarded, byPartition[p], enc, now)
			if fw != nil {
				fw.part = pp
				pending.forwards = append(pending.forwards, fw)
			}
		}
		pp.err = b.storeError(topic, p, err)
	}
	return pending, nil
}

// parseCompressed checks a request's compressed batch and parses its
// records, which alias the decompressed payload: the broker stores the
// batch as sent, but refuses it whole if any record is one it would
// refuse sent plain.
func parseCompressed(req ProduceRequest, t *catalog.Topic) ([]records.Record, error) {
	c := req.Compressed
	switch {
	case len(req.Records) > 0:
		return nil, errs.Newf(ErrInvalid, "the request has records and compressed_records: send one or the other")
	case req.Partition == nil:
		return nil, errs.Newf(ErrInvalid, "compressed_records are one partition's batch: set partition")
	case c.Count <= 0:
		return nil, errs.Newf(ErrInvalid, "compressed_records has record_count %d: it must count the records in data", c.Count)
	}
	_, parsed, err := records.ParseCompressed(c.Codec, c.Data, c.Count, decompressLimit)
	if err != nil {
		return nil, errs.Newf(ErrInvalid, "compressed_records: %v", err)
	}
	return parsed, nil
}

// decompressLimit bounds what a producer's compressed batch decompresses
// to: decompressed, it must fit one raft entry, since a subscriber that
// does not accept its codec gets it decompressed.
const decompressLimit = raftstore.MaxEntryBytes - raftstore.BatchHeaderSize

// maxDecompressing bounds the memory the produce requests being checked
// hold decompressed, all streams together: each takes decompressLimit of
// it while Produce checks it, so that requests of a few bytes that
// decompress to 32 MiB each cannot, many at once, take the broker's
// memory. Four at a time is more than two cores decompress.
const maxDecompressing = 4 * decompressLimit

// encoding is how a partition's batch of a request is stored: in codec,
// and as sent (the producer's compressed bytes) when the producer's codec
// is the one to store and no record needs the broker's timestamp.
type encoding struct {
	codec  compression.Codec
	asSent []byte
}

// storedEncoding says how the records of a request are stored, given the
// topic's compression.type.
func storedEncoding(sent *Compressed, c *catalog.TopicConfig, recs []records.Record) encoding {
	if sent == nil {
		return encoding{codec: c.StoredCompression(compression.None)}
	}
	enc := encoding{codec: c.StoredCompression(sent.Codec)}
	if enc.codec != sent.Codec {
		return enc
	}
	for _, r := range recs {
		if !r.HasTimestamp {
			return enc // NB: it takes the broker's: recompressed
		}
	}
	enc.asSent = sent.Data
	return enc
}

// checkBatchSizes refuses records whose batch for some partition would be
// larger than limit as stored: raft could never replicate it.
func checkBatchSizes(byPartition map[int32][]records.Record, now records.Timestamp, limit int) error {
	for _, p := range slices.Sorted(maps.Keys(byPartition)) {
		recs := byPartition[p]
		if size := batchSize(recs, now); size > limit {
			return errs.Newf(ErrInvalid, "the %d records for partition %d make a %d-byte batch as stored (a record without a timestamp takes the broker's, up to 15 bytes more), over the limit of %d bytes that replication carries: send fewer records per request",
				len(recs), p, size, limit)
		}
	}
	return nil
}

// checkTimestamp applies the topic's message.timestamp.* configs to r: with
// LogAppendTime it is to take the broker's time; with CreateTime its own
// timestamp must be within the bounds around the broker's time now, so
// that a wrong clock cannot stop time retention (a far future timestamp)
// or have fresh data deleted (a far past one).
func checkTimestamp(c *catalog.TopicConfig, r *records.Record, now records.Timestamp) error {
	if c.LogAppendTime {
		r.UseBrokerTime()
		return nil
	}
	if !r.HasTimestamp {
		return nil
	}
	ts, at := r.Timestamp.UnixMilli(), now.UnixMilli()
	switch {
	case ts < at && at-ts > c.TimestampBeforeMS:
		return fmt.Errorf("timestamp %s is %dms before the broker's time %s, over the topic's %s of %d: fix the producer's clock, or raise the bound",
			formatMilli(ts), at-ts, formatMilli(at), catalog.TimestampBeforeMaxMS, c.TimestampBeforeMS)
	case ts > at && ts-at > c.TimestampAfterMS:
		return fmt.Errorf("timestamp %s is %dms after the broker's time %s, over the topic's %s of %d: fix the producer's clock, or raise the bound",
			formatMilli(ts), ts-at, formatMilli(at), catalog.TimestampAfterMaxMS, c.TimestampAfterMS)
	}
	return nil
}

func formatMilli(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

// assign groups records by partition, keeping their order: the request's
// partition if set, else Kafka's partitioner for keyed records; keyless
// records of one request go together to the next partition in turn (like
// Kafka's sticky partitioner, so they stay one batch).
func (b *Broker) assign(t *catalog.Topic, partition *int32, recs []records.Record) map[int32][]records.Record {
	if partition != nil {
		return map[int32][]records.Record{*partition: recs}
	}
	out := make(map[int32][]records.Record)
	sticky := int32(-1)
	for _, r := range recs {
		var p int32
		if len(r.Key) > 0 {
			p = partitioner.ForKey(r.Key, t.Partitions)
		} else {
			if sticky < 0 {
				sticky = int32(b.roundRobin.Add(1) % uint32(t.Partitions))
			}
			p = sticky
		}
		out[p] = append(out[p], r)
	}
	return out
}

// Ack says where the records of a request for one partition landed:
// Count of them, at offsets from BaseOffset on.
type Ack struct {
	Partition  int32
	BaseOffset int64
	Count      int
}

// Wait returns an ack per partition once every batch is durable. If some
// partitions failed, it returns the acks of those that succeeded and the
// first error: a request spanning partitions is not atomic.
func (pp *PendingProduce) Wait(ctx context.Context) ([]Ack, error) {
	var (
		acks   []Ack
		failed []error
	)
	for _, p := range pp.parts {
		err := p.err
		var base int64
		switch {
		case err != nil:
		case p.forwarded != nil:
			base, err = p.forwarded(ctx)
		case p.proposal == nil:
			err = errs.Newf(ErrUnavailable, "the records were to be forwarded, and never were")
		default:
			base, err = p.proposal.Wait(ctx)
			err = pp.broker.storeError(pp.topic, p.partition, err)
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("partition %d: %w", p.partition, err))
			continue
		}
		acks = append(acks, Ack{Partition: p.partition, BaseOffset: base, Count: p.count})
	}
	if len(failed) > 0 {
		return acks, failed[0]
	}
	return acks, nil
}

// readyWait bounds how long a produce waits for a partition that is still
// electing or catching up (just after a restart, say) before it fails
// UNAVAILABLE: a produce stream submits in order, so one such partition
// holds back the stream's other requests meanwhile.
const readyWait = 5 * time.Second

// produceReplicated submits records to a partition replicated here: on
// the leader to raft; on a follower it returns a Forward to the leader,
// fenced by the leader's term. That is the one path a request takes
// (raft does not forward data proposals: see
// raftstore.PartitionConfig.ForwardProposals); a request forwarded here
// is proposed here, and fails if this replica does not lead (in the term
// it names). A partition with no leader known yet (electing, just opened)
// is waited for, up to readyWait.
//
// NB: the fence is what keeps a stream's requests in order across leader
// changes. Without it, a request forwarded to the leader of term T could
// reach that broker only once it leads again, in term T+2, and be appended
// after a request the stream sent next, to the leader of term T+1.
func (b *Broker) produceReplicated(ctx context.Context, part *raftstore.Partition, req ProduceRequest, forwarded bool, recs []records.Record, enc encoding, now records.Timestamp) (*Forward, *raftstore.Proposal, error) {
	if part.Leader() == 0 || part.Leader() == uint64(b.cfg.NodeID) || forwarded {
		rctx, cancel := context.WithTimeout(ctx, readyWait)
		err := waitReady(rctx, part)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("not ready after %v: %w", readyWait, raftstore.ErrNotLeader)
		}
	}
	view := part.Leadership()
	leader, ok := b.Member(int32(view.Leader))
	if !ok || leader.NodeID == b.cfg.NodeID || forwarded {
		if req.Producer.ID != 0 {
			// NB: a leader tells retries from new batches only once it
			// has applied an entry of its term (raftstore's producers.go).
			if err := b.waitLeadsCurrent(ctx, part, readyWait); err != nil {
				return nil, nil, err
			}
		}
		prop, err := submit(ctx, part, recs, now, enc, req.Producer,
			raftstore.SubmitOptions{Durability: req.Durability, LeaderTerm: req.LeaderEpoch})
		return nil, prop, err
	}
	if req.LeaderEpoch == 0 {
		req.LeaderEpoch = view.Term
	}
	return &Forward{To: []Member{leader}, Request: req, failed: func(err error) error {
		return &NotLeaderError{Topic: req.Topic, Partition: *req.Partition, Leader: leader,
			Err: fmt.Errorf("forward to the leader: %w", err)}
	}}, nil, nil
}

// waitLeadsCurrent waits, up to d, for this broker, leading the partition,
// to have applied an entry of its term. It returns at once where the
// partition is led elsewhere, and after d regardless: submitting then
// fails ErrNotLeader.
func (b *Broker) waitLeadsCurrent(ctx context.Context, part *raftstore.Partition, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		changed := part.Changed()
		if part.LeadsCurrent() || part.Leader() != uint64(b.cfg.NodeID) {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// rawRecords returns the records as their producer encoded them.
func rawRecords(recs []records.Record) [][]byte {
	raw := make([][]byte, len(recs))
	for i, r := range recs {
		raw[i] = r.Bytes
	}
	return raw
}
