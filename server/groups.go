package server

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/group"
)

// The AdminService's consumer group calls. What only the coordinator
// knows (members) or may do (a change that needs the group empty) is
// sent to it; a forwarded call is answered here or not at all.

// coordinatorOf returns where a call refused with a *NotCoordinatorError
// goes: the coordinator's peer address, unless the call was already
// forwarded or no coordinator is known.
func coordinatorOf(ctx context.Context, err error) (string, bool) {
	nc, ok := errors.AsType[*broker.NotCoordinatorError](err)
	if !ok || nc.Coordinator.PeerAddress == "" || forwardedCall(ctx) {
		return "", false
	}
	return nc.Coordinator.PeerAddress, true
}

func (s *adminService) ListGroups(ctx context.Context, _ *runnelv1.ListGroupsRequest) (*runnelv1.ListGroupsResponse, error) {
	coordinators := map[string]int32{}
	for _, g := range s.broker.ListGroups() {
		coordinators[g.Name] = g.Coordinator
	}
	// NB: a group with members but no commits is known to its coordinator
	// only: ask every broker (an unreachable one's groups with commits are
	// known here anyway).
	if !forwardedCall(ctx) {
		for _, m := range s.broker.Members() {
			if m.NodeID == s.broker.NodeID() || m.PeerAddress == "" {
				continue
			}
			resp, err := s.peers.ListGroups(ctx, m.PeerAddress)
			if err != nil {
				continue
			}
			for _, g := range resp.Groups {
				if coordinators[g.Name] == 0 {
					coordinators[g.Name] = g.CoordinatorId
				}
			}
		}
	}
	resp := &runnelv1.ListGroupsResponse{}
	for _, name := range slices.Sorted(maps.Keys(coordinators)) {
		resp.Groups = append(resp.Groups, &runnelv1.GroupListing{Name: name, CoordinatorId: coordinators[name]})
	}
	return resp, nil
}

func (s *adminService) DescribeGroup(ctx context.Context, req *runnelv1.DescribeGroupRequest) (*runnelv1.DescribeGroupResponse, error) {
	st, err := s.broker.DescribeGroup(req.Group)
	if addr, ok := coordinatorOf(ctx, err); ok {
		return s.peers.DescribeGroup(ctx, addr, req)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	g := &runnelv1.ConsumerGroup{Name: st.Name, State: runnelv1.GroupState_GROUP_STATE_STABLE,
		CoordinatorId: st.Coordinator.NodeID, CoordinatorAddress: st.Coordinator.Address, GroupEpoch: st.Epoch, Assignor: st.Assignor}
	switch {
	case len(st.Members) == 0:
		g.State = runnelv1.GroupState_GROUP_STATE_EMPTY
	case !st.Stable():
		g.State = runnelv1.GroupState_GROUP_STATE_RECONCILING
	}
	owners := map[group.Partition]string{}
	topics := slices.Collect(maps.Keys(st.Committed))
	for _, m := range st.Members {
		g.Members = append(g.Members, &runnelv1.GroupMemberInfo{MemberId: m.ID, InstanceId: m.InstanceID, ClientAddress: m.Client,
			Topics: m.Topics, MemberEpoch: m.Epoch, Connected: m.Attached,
			Assigned: byTopic(m.Owned), Revoking: byTopic(m.Revoking), Target: byTopic(m.Target)})
		for _, p := range append(slices.Clone(m.Owned), m.Revoking...) {
			owners[p] = m.ID
		}
		topics = append(topics, m.Topics...)
	}
	slices.Sort(topics)
	for _, topic := range slices.Compact(topics) {
		desc, err := s.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: topic})
		if err != nil {
			continue // deleted meanwhile
		}
		for _, p := range desc.Partitions {
			gp := &runnelv1.GroupPartition{Topic: topic, Partition: p.Partition, CommittedOffset: -1,
				HighWatermark: p.HighWatermark, Lag: p.HighWatermark - p.LogStartOffset,
				MemberId: owners[group.Partition{Topic: topic, Partition: p.Partition}]}
			if o, ok := st.Committed[topic][p.Partition]; ok {
				gp.CommittedOffset, gp.Lag = o, max(p.HighWatermark-o, 0)
			}
			g.Partitions = append(g.Partitions, gp)
		}
	}
	return &runnelv1.DescribeGroupResponse{Group: g}, nil
}

func (s *adminService) DeleteGroup(ctx context.Context, req *runnelv1.DeleteGroupRequest) (*runnelv1.DeleteGroupResponse, error) {
	err := s.broker.DeleteGroup(ctx, req.Group)
	if addr, ok := coordinatorOf(ctx, err); ok {
		return s.peers.DeleteGroup(ctx, addr, req)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &runnelv1.DeleteGroupResponse{}, nil
}

func (s *adminService) ResetOffsets(ctx context.Context, req *runnelv1.ResetOffsetsRequest) (*runnelv1.ResetOffsetsResponse, error) {
	if req.To == nil {
		return nil, invalid("say where the offsets go: to_earliest, to_latest, to_offset, to_time or shift_by")
	}
	if t, ok := req.To.(*runnelv1.ResetOffsetsRequest_ToTime); ok {
		if err := t.ToTime.CheckValid(); err != nil {
			return nil, invalid("to_time: %v", err)
		}
	}
	// NB: first on the coordinator, which alone knows the group is empty.
	err := s.broker.ResetOffsets(ctx, req.Group, req.Topic, nil, true /* dry run */)
	if addr, ok := coordinatorOf(ctx, err); ok {
		return s.peers.ResetOffsets(ctx, addr, req)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	desc, err := s.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: req.Topic})
	if err != nil {
		return nil, err
	}
	partitions := slices.Sorted(slices.Values(req.Partitions))
	if len(partitions) == 0 {
		for _, p := range desc.Partitions {
			partitions = append(partitions, p.Partition)
		}
	}
	if len(slices.Compact(slices.Clone(partitions))) != len(partitions) {
		return nil, invalid("partitions lists a partition twice")
	}
	committed, err := s.broker.Committed(req.Group, req.Topic)
	if err != nil {
		return nil, toStatus(err)
	}
	positions := map[int32]int64{}
	resp := &runnelv1.ResetOffsetsResponse{}
	for _, p := range partitions {
		if p < 0 || int(p) >= len(desc.Partitions) {
			return nil, invalid("partition %d does not exist: topic %q has partitions 0 to %d", p, req.Topic, len(desc.Partitions)-1)
		}
		info := desc.Partitions[p]
		clamp := func(o int64) int64 { return min(max(o, info.LogStartOffset), info.HighWatermark) }
		var o int64
		switch to := req.To.(type) {
		case *runnelv1.ResetOffsetsRequest_ToEarliest:
			o = info.LogStartOffset
		case *runnelv1.ResetOffsetsRequest_ToLatest:
			o = info.HighWatermark
		case *runnelv1.ResetOffsetsRequest_ToOffset:
			o = clamp(to.ToOffset)
		case *runnelv1.ResetOffsetsRequest_ShiftBy:
			base, ok := committed[p]
			if !ok {
				base = info.LogStartOffset
			}
			o = clamp(base + to.ShiftBy)
		case *runnelv1.ResetOffsetsRequest_ToTime:
			if o, err = s.offsetForTime(ctx, req.Topic, info, to.ToTime.AsTime()); err != nil {
				return nil, err
			}
		}
		positions[p] = o
		resp.Partitions = append(resp.Partitions, &runnelv1.GroupPartition{Topic: req.Topic, Partition: p,
			CommittedOffset: o, HighWatermark: info.HighWatermark, Lag: info.HighWatermark - o})
	}
	if req.DryRun {
		return resp, nil
	}
	if err := s.broker.ResetOffsets(ctx, req.Group, req.Topic, positions, false); err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// offsetForTime is the offset of the first record of a partition at or
// after at (the high watermark if none is): from this broker's replica,
// or by asking one.
func (s *adminService) offsetForTime(ctx context.Context, topic string, info *runnelv1.PartitionInfo, at time.Time) (int64, error) {
	r, err := s.broker.Reader(ctx, topic, info.Partition)
	if err == nil {
		o, err := r.StartOffset(ctx, broker.StartTimestamp, 0, at, "")
		return o, toStatus(err)
	}
	nr, ok := errors.AsType[*broker.NotReplicatedError](err)
	if !ok {
		return 0, toStatus(err)
	}
	req := &runnelv1.SubscribeRequest{Topic: topic, Partitions: []int32{info.Partition}, MaxBatchBytes: 1,
		StartPosition: runnelv1.StartPosition_START_POSITION_TIMESTAMP, StartTime: timestamppb.New(at)}
	var lastErr error = nr
	for _, m := range nr.Replicas {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		o, err := s.firstOffset(ctx, m.PeerAddress, req, info.HighWatermark)
		cancel()
		if err == nil {
			return o, nil
		}
		lastErr = err
	}
	return 0, toStatus(errs.Newf(broker.ErrUnavailable, "no replica of %s partition %d answered: %v", topic, info.Partition, lastErr))
}

// firstOffset reads the first record a subscription at address gets:
// its offset, or end when there is none.
func (s *adminService) firstOffset(ctx context.Context, address string, req *runnelv1.SubscribeRequest, end int64) (int64, error) {
	stream, err := s.peers.Subscribe(ctx, address, req)
	if err != nil {
		return 0, err
	}
	resp, err := stream.Recv()
	switch {
	case errors.Is(err, io.EOF):
		return end, nil
	case err != nil:
		return 0, err
	case len(resp.GetBatch().GetRecords()) == 0:
		return end, nil
	}
	return resp.Batch.Records[0].Offset, nil
}
