package server

import (
	"context"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/catalog"
)

type adminService struct {
	runnelv1.UnimplementedAdminServiceServer
	broker *broker.Broker
}

func (s *adminService) CreateTopic(ctx context.Context, req *runnelv1.CreateTopicRequest) (*runnelv1.CreateTopicResponse, error) {
	t, err := s.broker.CreateTopic(ctx, req.Name, req.Partitions, req.ReplicationFactor, req.Config)
	if err != nil {
		return nil, toStatus(err)
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

func (s *adminService) DescribeTopic(_ context.Context, req *runnelv1.DescribeTopicRequest) (*runnelv1.DescribeTopicResponse, error) {
	t, err := s.broker.Topic(req.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &runnelv1.DescribeTopicResponse{Topic: topicProto(t)}
	for _, p := range s.broker.DescribePartitions(t) {
		resp.Partitions = append(resp.Partitions, &runnelv1.PartitionInfo{
			Partition:      p.Partition,
			Leader:         p.Leader,
			Replicas:       p.Replicas,
			LogStartOffset: p.LogStartOffset,
			HighWatermark:  p.HighWatermark,
		})
	}
	return resp, nil
}

func (s *adminService) DescribeCluster(context.Context, *runnelv1.DescribeClusterRequest) (*runnelv1.DescribeClusterResponse, error) {
	return &runnelv1.DescribeClusterResponse{
		ClusterId:    s.broker.ClusterID(),
		ControllerId: s.broker.ControllerID(),
		Brokers:      []*runnelv1.Broker{{NodeId: s.broker.NodeID(), Address: s.broker.AdvertisedAddress()}},
	}, nil
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
