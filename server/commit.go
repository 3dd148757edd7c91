package server

import (
	"context"
	"maps"
	"slices"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
)

type commitService struct {
	runnelv1.UnimplementedCommitServiceServer
	broker *broker.Broker
}

func (s *commitService) Commit(ctx context.Context, req *runnelv1.CommitRequest) (*runnelv1.CommitResponse, error) {
	positions := make(map[int32]int64, len(req.Offsets))
	for _, o := range req.Offsets {
		if _, dup := positions[o.Partition]; dup {
			return nil, invalid("partition %d appears twice in offsets", o.Partition)
		}
		positions[o.Partition] = o.Offset
	}
	if err := s.broker.Commit(ctx, req.Group, req.Topic, positions); err != nil {
		return nil, toStatus(err)
	}
	return &runnelv1.CommitResponse{}, nil
}

func (s *commitService) FetchCommitted(_ context.Context, req *runnelv1.FetchCommittedRequest) (*runnelv1.FetchCommittedResponse, error) {
	committed, err := s.broker.Committed(req.Group, req.Topic)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &runnelv1.FetchCommittedResponse{}
	for _, p := range slices.Sorted(maps.Keys(committed)) {
		resp.Offsets = append(resp.Offsets, &runnelv1.PartitionOffset{Partition: p, Offset: committed[p]})
	}
	return resp, nil
}
