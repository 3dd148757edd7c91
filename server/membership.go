package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
)

// membershipService lets brokers join the cluster through this one.
type membershipService struct {
	raftv1.UnimplementedMembershipServiceServer
	broker *broker.Broker
}

func (s *membershipService) Join(ctx context.Context, req *raftv1.JoinRequest) (*raftv1.JoinResponse, error) {
	select {
	case <-s.broker.Started():
	default:
		return nil, status.Error(codes.Unavailable, "this broker is starting: retry")
	}
	members, err := s.broker.Register(ctx, req.NodeId, req.Address)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &raftv1.JoinResponse{ClusterId: s.broker.ClusterID()}
	for _, m := range members {
		resp.Brokers = append(resp.Brokers, &raftv1.Member{NodeId: m.NodeID, Address: m.Address})
	}
	return resp, nil
}

// joinRetryInterval is how long a joining broker waits between attempts.
const joinRetryInterval = time.Second

// join registers this broker (id, reached at address) with the cluster
// through the broker at seed, retrying while that one is unreachable or
// starting, and returns the cluster's brokers by id and its id.
func join(ctx context.Context, p *peers, seed string, id int32, address string, logger *slog.Logger) (map[int32]string, string, error) {
	conn, err := p.conn(seed)
	if err != nil {
		return nil, "", fmt.Errorf("join %s: %w", seed, err)
	}
	client := raftv1.NewMembershipServiceClient(conn)
	for {
		resp, err := client.Join(ctx, &raftv1.JoinRequest{NodeId: id, Address: address})
		if err == nil {
			peers := map[int32]string{}
			for _, m := range resp.Brokers {
				peers[m.NodeId] = m.Address
			}
			logger.Info("joined the cluster", "cluster_id", resp.ClusterId, "via", seed, "brokers", FormatPeers(peers))
			return peers, resp.ClusterId, nil
		}
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
			return nil, "", fmt.Errorf("join the cluster through %s: %w", seed, err)
		}
		logger.Warn("joining the cluster: retrying", "via", seed, "err", err)
		select {
		case <-ctx.Done():
			return nil, "", fmt.Errorf("join the cluster through %s: %w (last: %v)", seed, ctx.Err(), err)
		case <-time.After(joinRetryInterval):
		}
	}
}
