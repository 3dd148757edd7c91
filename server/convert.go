package server

import (
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// The API's enums and messages as the broker has them: the broker knows
// nothing of the generated code, so the edge converts, here.

// durability is what a request's acks ask of the store.
func durability(acks runnelv1.Acks) (raftstore.Durability, error) {
	switch acks {
	case runnelv1.Acks_ACKS_UNSPECIFIED, runnelv1.Acks_ACKS_ALL:
		return raftstore.Quorum, nil
	case runnelv1.Acks_ACKS_LEADER:
		return raftstore.LeaderOnly, nil
	}
	return 0, errs.Newf(broker.ErrInvalid, "acks %d is not one of ACKS_ALL (1) or ACKS_LEADER (2)", acks)
}

// acksLabel names a durability as the API's acks do, for metrics.
func acksLabel(d raftstore.Durability) string {
	if d == raftstore.LeaderOnly {
		return "leader"
	}
	return "all"
}

func produceAcks(acks []broker.Ack) []*runnelv1.ProduceAck {
	out := make([]*runnelv1.ProduceAck, len(acks))
	for i, a := range acks {
		out[i] = &runnelv1.ProduceAck{Partition: a.Partition, BaseOffset: a.BaseOffset, RecordCount: int32(a.Count)}
	}
	return out
}

var startPositions = map[runnelv1.StartPosition]broker.StartPosition{
	runnelv1.StartPosition_START_POSITION_UNSPECIFIED: broker.StartDefault,
	runnelv1.StartPosition_START_POSITION_EARLIEST:    broker.StartEarliest,
	runnelv1.StartPosition_START_POSITION_LATEST:      broker.StartLatest,
	runnelv1.StartPosition_START_POSITION_OFFSET:      broker.StartOffset,
	runnelv1.StartPosition_START_POSITION_TIMESTAMP:   broker.StartTimestamp,
	runnelv1.StartPosition_START_POSITION_COMMITTED:   broker.StartCommitted,
}

func startPosition(p runnelv1.StartPosition) (broker.StartPosition, error) {
	if bp, ok := startPositions[p]; ok {
		return bp, nil
	}
	return 0, errs.Newf(broker.ErrInvalid, "unknown start position %d", p)
}
