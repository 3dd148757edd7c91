package server

import (
	"context"
	"errors"
	"maps"
	"slices"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/peer"
)

type commitService struct {
	runnelv1.UnimplementedCommitServiceServer
	broker  *broker.Broker
	peers   *peer.Pool
	metrics *edgeMetrics
}

func (s *commitService) Commit(ctx context.Context, req *runnelv1.CommitRequest) (*runnelv1.CommitResponse, error) {
	positions := make(map[int32]int64, len(req.Offsets))
	for _, o := range req.Offsets {
		if _, dup := positions[o.Partition]; dup {
			return nil, invalid("partition %d appears twice in offsets", o.Partition)
		}
		positions[o.Partition] = o.Offset
	}
	if req.MemberId == "" && req.MemberEpoch != 0 {
		return nil, invalid("member_epoch is set without member_id: set both (from the assignment event), or neither")
	}
	err := s.broker.Commit(ctx, req.Group, req.Topic, positions, broker.MemberCommit{ID: req.MemberId, Epoch: req.MemberEpoch})
	// NB: a member's commit is checked by the group's coordinator: sent
	// there once (a forwarded call is never forwarded again).
	if nc, ok := errors.AsType[*broker.NotCoordinatorError](err); ok && nc.Coordinator.PeerAddress != "" && !forwardedCall(ctx) {
		s.metrics.forwardedCalls.WithLabelValues("commit").Inc()
		resp, err := s.peers.Commit(ctx, nc.Coordinator.PeerAddress, req)
		if err != nil {
			s.metrics.forwardedFailure.WithLabelValues("commit").Inc()
		}
		return resp, s.countFenced(err)
	}
	if err != nil {
		return nil, s.countFenced(toStatus(err))
	}
	return &runnelv1.CommitResponse{}, nil
}

// countFenced counts the commits refused because the member no longer
// holds what it commits.
func (s *commitService) countFenced(err error) error {
	if isFenced(err) {
		s.metrics.fencedCommits.Inc()
	}
	return err
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
