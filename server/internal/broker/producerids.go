package broker

import (
	"context"
	"sync"

	metav1 "github.com/runnel-broker/runnel/gen/runnel/meta/v1"
)

// producerIDBlock is how many producer ids one metadata record reserves.
const producerIDBlock = 1024

// producerIDs hands out idempotent producer ids from blocks the metadata
// log reserves for this broker, as Kafka's controller hands out blocks of
// producer ids: a ProducerIdBlock record at offset o reserves the ids
// o*1024 to o*1024+1023, so raft's order alone keeps blocks apart and the
// catalog holds no state for them. Ids left in a block when the broker
// stops are never used.
type producerIDs struct {
	mu         sync.Mutex
	next, last int64 // the block's ids left: next to last; none when next > last
}

// InitProducer returns a new idempotent producer id, unique in the cluster
// (never 0, which means no producer). Most calls take an id from this
// broker's block; one in 1024 appends a record to the metadata log.
func (b *Broker) InitProducer(ctx context.Context) (int64, error) {
	ids := &b.producerIDs
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if ids.next == 0 || ids.next > ids.last {
		off, err := b.proposeMetadataAt(ctx, &metav1.MetadataRecord{Change: &metav1.MetadataRecord_ProducerIdBlock{
			ProducerIdBlock: &metav1.ProducerIdBlock{BrokerId: b.cfg.NodeID},
		}})
		if err != nil {
			return 0, err
		}
		ids.next, ids.last = max(1, off*producerIDBlock), off*producerIDBlock+producerIDBlock-1
	}
	id := ids.next
	ids.next++
	return id, nil
}
