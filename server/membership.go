package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/peer"
)

// membershipService lets brokers join the cluster through this one.
type membershipService struct {
	raftv1.UnimplementedMembershipServiceServer
	broker  *broker.Broker
	nodeID  int32
	dataDir string
	// checkPeerAt refuses a caller whose certificate is not valid for the
	// peer address it joins at (see peerid.go).
	checkPeerAt func(ctx context.Context, id int32, addr string) error
}

// Identify answers from the data directory alone, while the broker starts
// too: its peers ask before they start.
func (s *membershipService) Identify(ctx context.Context, req *raftv1.IdentifyRequest) (*raftv1.IdentifyResponse, error) {
	id, err := broker.StoredClusterID(s.dataDir)
	if err != nil {
		return nil, toStatus(err)
	}
	return &raftv1.IdentifyResponse{NodeId: s.nodeID, ClusterId: id}, nil
}

func (s *membershipService) Join(ctx context.Context, req *raftv1.JoinRequest) (*raftv1.JoinResponse, error) {
	select {
	case <-s.broker.Started():
	default:
		return nil, toStatus(errs.Newf(broker.ErrUnavailable, "this broker is starting: retry"))
	}
	if err := s.checkPeerAt(ctx, req.NodeId, req.PeerAddress); err != nil {
		return nil, err
	}
	members, known, err := s.broker.Register(ctx, req.NodeId, req.Address, req.PeerAddress)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &raftv1.JoinResponse{ClusterId: s.broker.ClusterID(), Known: known}
	for _, m := range members {
		resp.Brokers = append(resp.Brokers, &raftv1.Member{NodeId: m.NodeID, Address: m.Address, PeerAddress: m.PeerAddress})
	}
	return resp, nil
}

// joinRetryInterval is how long a joining broker waits between attempts.
const joinRetryInterval = time.Second

// joined is what joining the cluster told this broker.
type joined struct {
	brokers   map[int32]string // peer addresses by node id
	clusterID string
	known     bool // the cluster had this broker already
}

// join registers this broker (id, reached by clients at address and by
// brokers at peerAddress) with the cluster through the broker at seed (a
// peer address), retrying while that one is unreachable or starting.
func join(ctx context.Context, p *peer.Pool, seed string, id int32, address, peerAddress string, logger *slog.Logger) (joined, error) {
	for {
		resp, err := p.Join(ctx, seed, &raftv1.JoinRequest{NodeId: id, Address: address, PeerAddress: peerAddress})
		if err == nil {
			j := joined{brokers: map[int32]string{}, clusterID: resp.ClusterId, known: resp.Known}
			for _, m := range resp.Brokers {
				j.brokers[m.NodeId] = m.PeerAddress
			}
			logger.Info("joined the cluster", "cluster_id", resp.ClusterId, "via", seed, "brokers", FormatPeers(j.brokers))
			return j, nil
		}
		if !retriable(err) {
			return joined{}, fmt.Errorf("join the cluster through %s: %w", seed, err)
		}
		logger.Warn("joining the cluster: retrying", "via", seed, "err", err)
		select {
		case <-ctx.Done():
			return joined{}, fmt.Errorf("join the cluster through %s: %w (last: %v)", seed, ctx.Err(), err)
		case <-time.After(joinRetryInterval):
		}
	}
}

// peersCluster asks the initial peers which cluster their data
// directories belong to (broker.Config.PeersCluster), until one names a
// cluster or enough of the others named none to rule one out.
//
// NB: a cluster formed once a quorum of brokers had a directory, this one
// maybe among them: then its lost directory was one of the quorum, and
// the rest of it, quorum-1 of the others, may be all that holds the data.
// So it must hear none from n-quorum+1 of the others, more than could
// leave all of those out (for 3 brokers, both others; for 5, three), and
// never counts itself: its own empty directory proves nothing. A new
// cluster therefore forms once that many brokers are up.
func peersCluster(ctx context.Context, p *peer.Pool, brokers map[int32]string, self int32, logger *slog.Logger) (string, error) {
	quorum := len(brokers)/2 + 1
	needed := len(brokers) - quorum + 1
	none := map[int32]bool{}
	for {
		for id, addr := range brokers {
			if none[id] || id == self {
				continue
			}
			resp, err := p.Identify(ctx, addr, &raftv1.IdentifyRequest{NodeId: self})
			switch {
			case err != nil:
				logger.Debug("identify a peer", "node", id, "err", err)
			case resp.ClusterId != "":
				return resp.ClusterId, nil
			default:
				none[id] = true
			}
		}
		if len(none) >= needed {
			return "", nil
		}
		logger.Info("waiting for the peers to say whether their cluster exists", "answered", len(none), "needed", needed)
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("ask the peers whether their cluster exists: %w", ctx.Err())
		case <-time.After(joinRetryInterval):
		}
	}
}

// groupRelayService hears from the brokers that relay group member
// streams to this one, the coordinator.
type groupRelayService struct {
	raftv1.UnimplementedGroupRelayServiceServer
	broker *broker.Broker
}

func (s *groupRelayService) MemberLost(_ context.Context, req *raftv1.MemberLostRequest) (*raftv1.MemberLostResponse, error) {
	s.broker.MemberLost(req.Group, req.MemberId)
	return &raftv1.MemberLostResponse{}, nil
}
