package server

import (
	"context"
	"slices"
	"time"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/catalog"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/peer"
)

type adminService struct {
	runnelv1.UnimplementedAdminServiceServer
	broker *broker.Broker
	peers  *peer.Pool
}

func (s *adminService) CreateTopic(ctx context.Context, req *runnelv1.CreateTopicRequest) (*runnelv1.CreateTopicResponse, error) {
	t, err := s.broker.CreateTopic(ctx, req.Name, req.Partitions, req.ReplicationFactor, req.Config)
	if err != nil {
		return nil, toStatus(err)
	}
	// Return once every partition has a leader, wherever it is, so that a
	// produce right after CreateTopic succeeds through any broker.
	for {
		desc, err := s.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: req.Name})
		if err != nil {
			return nil, err // deleted meanwhile
		}
		if !slices.ContainsFunc(desc.Partitions, func(p *runnelv1.PartitionInfo) bool { return p.Leader == 0 }) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, toStatus(errs.Newf(broker.ErrUnavailable, "topic %q is created but not every partition has a leader yet: %v",
				req.Name, ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return &runnelv1.CreateTopicResponse{Topic: topicProto(t)}, nil
}

func (s *adminService) DeleteTopic(ctx context.Context, req *runnelv1.DeleteTopicRequest) (*runnelv1.DeleteTopicResponse, error) {
	if err := s.broker.DeleteTopic(ctx, req.Name); err != nil {
		return nil, toStatus(err)
	}
	return &runnelv1.DeleteTopicResponse{}, nil
}

func (s *adminService) ListTopics(context.Context, *runnelv1.ListTopicsRequest) (*runnelv1.ListTopicsResponse, error) {
	resp := &runnelv1.ListTopicsResponse{}
	for _, t := range s.broker.Topics() {
		resp.Topics = append(resp.Topics, topicProto(t))
	}
	return resp, nil
}

func (s *adminService) DescribeTopic(ctx context.Context, req *runnelv1.DescribeTopicRequest) (*runnelv1.DescribeTopicResponse, error) {
	t, err := s.broker.Topic(req.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &runnelv1.DescribeTopicResponse{Topic: topicProto(t)}
	for _, p := range s.broker.DescribePartitions(t) {
		resp.Partitions = append(resp.Partitions, &runnelv1.PartitionInfo{
			Partition:        p.Partition,
			Leader:           p.Leader,
			LeaderEpoch:      p.LeaderEpoch,
			Replicas:         p.Replicas,
			LogStartOffset:   p.LogStartOffset,
			HighWatermark:    p.HighWatermark,
			InSyncReplicas:   p.InSync,
			AddingReplicas:   p.Adding,
			RemovingReplicas: p.Removing,
		})
	}
	if !forwardedCall(ctx) {
		s.askLeaders(ctx, req.Name, resp.Partitions)
	}
	return resp, nil
}

// ReassignPartition starts moving a partition's replicas; see
// broker.ReassignPartition.
func (s *adminService) ReassignPartition(ctx context.Context, req *runnelv1.ReassignPartitionRequest) (*runnelv1.ReassignPartitionResponse, error) {
	if err := s.broker.ReassignPartition(ctx, req.Topic, req.Partition, req.Replicas); err != nil {
		return nil, toStatus(err)
	}
	return &runnelv1.ReassignPartitionResponse{}, nil
}

// RemoveBroker starts decommissioning a broker; see broker.RemoveBroker.
func (s *adminService) RemoveBroker(ctx context.Context, req *runnelv1.RemoveBrokerRequest) (*runnelv1.RemoveBrokerResponse, error) {
	n, err := s.broker.RemoveBroker(ctx, req.NodeId)
	if err != nil {
		return nil, toStatus(err)
	}
	return &runnelv1.RemoveBrokerResponse{Replicas: int32(n)}, nil
}

// askLeaders replaces what this broker knows of partitions it does not
// lead by what their leaders say: only a leader knows which replicas are
// in sync, and its high watermark is the newest. A partition whose leader
// cannot be asked keeps this broker's view.
func (s *adminService) askLeaders(ctx context.Context, topic string, parts []*runnelv1.PartitionInfo) {
	self := s.broker.NodeID()
	views := map[int32]*runnelv1.DescribeTopicResponse{} // by broker asked
	ask := func(id int32) *runnelv1.DescribeTopicResponse {
		if v, asked := views[id]; asked {
			return v
		}
		views[id] = nil
		m, ok := s.broker.Member(id)
		if !ok {
			return nil
		}
		v, err := s.peers.DescribeTopic(ctx, m.PeerAddress, topic)
		if err != nil || len(v.Partitions) != len(parts) {
			return nil
		}
		views[id] = v
		return v
	}
	for i, p := range parts {
		if p.Leader == self {
			continue
		}
		// The leader this broker knows of, else each replica, else the
		// leader a replica knows of.
		candidates := slices.Clone(p.Replicas)
		if p.Leader != 0 {
			candidates = append([]int32{p.Leader}, candidates...)
		}
		for j := 0; j < len(candidates); j++ {
			id := candidates[j]
			if id == self {
				continue
			}
			v := ask(id)
			if v == nil {
				continue
			}
			if theirs := v.Partitions[i]; theirs.Leader == id {
				parts[i] = theirs
				break
			} else if theirs.Leader != 0 && !slices.Contains(candidates, theirs.Leader) {
				candidates = append(candidates, theirs.Leader)
			}
		}
	}
}

func (s *adminService) DescribeCluster(ctx context.Context, req *runnelv1.DescribeClusterRequest) (*runnelv1.DescribeClusterResponse, error) {
	controller := s.broker.ControllerID()
	if controller != 0 && controller != s.broker.NodeID() && !forwardedCall(ctx) {
		// Only the controller knows which brokers answer it.
		if m, ok := s.broker.Member(controller); ok {
			if resp, err := s.peers.DescribeCluster(ctx, m.PeerAddress, req); err == nil {
				return resp, nil
			}
		}
	}
	resp := &runnelv1.DescribeClusterResponse{ClusterId: s.broker.ClusterID(), ControllerId: controller}
	states := s.broker.BrokerStates()
	for _, m := range s.broker.Members() {
		b := &runnelv1.Broker{NodeId: m.NodeID, Address: m.Address, Version: m.Version, Decommissioning: s.broker.Decommissioning(m.NodeID)}
		if online, known := states[m.NodeID]; known {
			b.State = runnelv1.BrokerState_BROKER_STATE_UNREACHABLE
			if online {
				b.State = runnelv1.BrokerState_BROKER_STATE_ONLINE
			}
		}
		resp.Brokers = append(resp.Brokers, b)
	}
	return resp, nil
}

func topicProto(t *catalog.Topic) *runnelv1.Topic {
	return &runnelv1.Topic{
		Name:              t.Name,
		TopicId:           t.ID,
		Partitions:        t.Partitions,
		ReplicationFactor: t.ReplicationFactor,
		Config:            catalog.EffectiveConfig(t.Overrides),
	}
}
