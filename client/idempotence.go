package client

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// The idempotent producer, as Kafka's (KIP-98, with KIP-360's epoch
// bump): the producer asks a broker for an id (InitProducer) before its
// first batch, and numbers the records it sends to each partition from 0
// in an epoch (ProduceRequest.base_sequence). The partition remembers its
// last five batches, and acknowledges a retry of one with its offsets
// rather than appending it again. A partition has one batch in flight, so
// a batch is always the next one in sequence, or a retry of the last.
//
// When a batch fails with its outcome unknown (its delivery timed out),
// the next one cannot know its sequence number: the partition's epoch goes
// up and the sequence starts again at 0, which the broker accepts from a
// higher epoch. The same happens, once per batch, when the broker refuses
// the sequence (FAILED_PRECONDITION: it forgot the producer, idle past
// --producer-id-expiration, or its records were deleted): nothing of the
// batch was appended, so it is sent again in the new epoch — unless an
// earlier attempt of it had an unknown outcome, which may be in the log:
// then the batch fails, its outcome unknown, rather than risk a copy.

// producerID is the producer's id, asked for once, on the first batch.
type producerID struct {
	mu sync.Mutex
	id int64
}

// get returns the producer's id, asking a broker for one the first time.
func (p *Producer) producerID(ctx context.Context) (int64, error) {
	p.id.mu.Lock()
	defer p.id.mu.Unlock()
	if p.id.id != 0 {
		return p.id.id, nil
	}
	var last error
	for _, addr := range p.c.candidates() {
		conn, err := p.c.connTo(addr)
		if err != nil {
			last = err
			continue
		}
		r, err := runnelv1.NewProduceServiceClient(conn).InitProducer(ctx, &runnelv1.InitProducerRequest{})
		if err != nil {
			last = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		p.id.id = r.ProducerId
		p.c.opts.logger.Debug("runnel producer: idempotent", "producer_id", r.ProducerId)
		return r.ProducerId, nil
	}
	if _, ok := status.FromError(last); !ok || status.Code(last) == codes.Unknown {
		last = status.Errorf(codes.Unavailable, "no broker gave the producer an id: %v", last)
	}
	return 0, last
}

// sequence sets req's producer fields for the queue's next batch (none
// without idempotence).
func (q *partitionQueue) sequence(req *runnelv1.ProduceRequest) error {
	if q.p.o.notIdempotent {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.p.c.opts.requestTimeout)
	defer cancel()
	id, err := q.p.producerID(ctx)
	if err != nil {
		return err
	}
	req.ProducerId, req.ProducerEpoch, req.BaseSequence = id, q.epoch, q.nextSequence
	return nil
}

// resequence starts the queue's sequence again at 0 in a new epoch, after
// a batch whose outcome is unknown or that the broker refused for its
// sequence.
func (q *partitionQueue) resequence(cause error) {
	q.epoch++
	q.nextSequence = 0
	q.p.c.opts.logger.Info("runnel producer: restarting the partition's sequence in a new epoch", "topic", q.topic,
		"partition", q.partition, "epoch", q.epoch, "cause", cause)
}
