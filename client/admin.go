package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// Admin manages topics and consumer groups and describes the cluster: the
// AdminService's calls, typed, as franz-go's kadm wraps kgo. Make it with
// NewAdmin; it is safe for concurrent use and costs nothing to keep.
//
// Every broker answers every admin call (it forwards to the controller or
// the group's coordinator what it does not do itself), so each call goes
// to one broker: the last that answered, else the client's bootstrap
// broker. On UNAVAILABLE, or when the broker does not answer within the
// client's request timeout (WithRequestTimeout), the call goes to the next
// broker the client knows of, bootstrap addresses first. Any other answer,
// success or not, ends the call: errors are the broker's gRPC status
// (status.Code and status.FromError read them).
//
// A call that changes something and failed over after an attempt whose
// outcome is unknown (a broker died answering it, or did not answer in
// time) may find its own work done: CreateTopic then fails with
// ALREADY_EXISTS, a delete with NOT_FOUND. The error's message says so.
type Admin struct {
	c *Client

	mu   sync.Mutex
	last string // the broker that answered last
}

// NewAdmin returns admin helpers that call through c, as kadm.NewClient
// does for a kgo client.
func NewAdmin(c *Client) *Admin { return &Admin{c: c} }

// CreateTopic creates a topic with its partitions and returns it as the
// cluster made it, every configuration key included (defaults too).
// replicationFactor 0 is the cluster's default (3, or every broker if
// there are fewer); configs are Kafka's keys (retention.ms,
// segment.bytes, max.message.bytes...), nil for the defaults. It returns
// once every partition has a leader.
func (a *Admin) CreateTopic(ctx context.Context, topic string, partitions, replicationFactor int32, configs map[string]string) (*runnelv1.Topic, error) {
	var resp *runnelv1.CreateTopicResponse
	err := a.call(ctx, "create topic", true, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: topic, Partitions: partitions, ReplicationFactor: replicationFactor, Config: configs})
		return err
	})
	return resp.GetTopic(), err
}

// DeleteTopic deletes a topic and its records.
func (a *Admin) DeleteTopic(ctx context.Context, topic string) error {
	return a.call(ctx, "delete topic", true, func(ctx context.Context, s runnelv1.AdminServiceClient) error {
		_, err := s.DeleteTopic(ctx, &runnelv1.DeleteTopicRequest{Name: topic})
		return err
	})
}

// ListTopics lists the topics, internal ones (__consumer_offsets)
// excluded, with their partition counts, replication factors and
// configurations.
func (a *Admin) ListTopics(ctx context.Context) ([]*runnelv1.Topic, error) {
	var resp *runnelv1.ListTopicsResponse
	err := a.call(ctx, "list topics", false, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.ListTopics(ctx, &runnelv1.ListTopicsRequest{})
		return err
	})
	return resp.GetTopics(), err
}

// DescribeTopic describes a topic and each of its partitions: leader and
// its epoch, replicas, in-sync replicas, a reassignment going, log start
// and high watermark, as the partitions' leaders see them.
func (a *Admin) DescribeTopic(ctx context.Context, topic string) (*runnelv1.DescribeTopicResponse, error) {
	var resp *runnelv1.DescribeTopicResponse
	err := a.call(ctx, "describe topic", false, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: topic})
		return err
	})
	return resp, err
}

// DescribeCluster lists the brokers (their addresses, state as the
// controller sees it, and versions) and names the controller.
func (a *Admin) DescribeCluster(ctx context.Context) (*runnelv1.DescribeClusterResponse, error) {
	var resp *runnelv1.DescribeClusterResponse
	err := a.call(ctx, "describe cluster", false, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
		return err
	})
	return resp, err
}

// ReassignPartition starts moving a partition's replicas to the brokers
// replicas names (node ids, the preferred leader first) and returns once
// the move has started; DescribeTopic shows it going (AddingReplicas,
// RemovingReplicas) and done (Replicas as asked). Asking again while a
// move goes replaces its target.
func (a *Admin) ReassignPartition(ctx context.Context, topic string, partition int32, replicas ...int32) error {
	return a.call(ctx, "reassign partition", true, func(ctx context.Context, s runnelv1.AdminServiceClient) error {
		_, err := s.ReassignPartition(ctx, &runnelv1.ReassignPartitionRequest{Topic: topic, Partition: partition, Replicas: replicas})
		return err
	})
}

// RemoveBroker starts decommissioning the broker nodeID: it takes no new
// replicas, those it holds move to other brokers, then it leaves the
// cluster. It returns once the broker is marked, with the number of
// replicas it holds; DescribeCluster shows it decommissioning
// (Broker.Decommissioning), then no longer lists it.
func (a *Admin) RemoveBroker(ctx context.Context, nodeID int32) (int32, error) {
	var resp *runnelv1.RemoveBrokerResponse
	err := a.call(ctx, "remove broker", true, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.RemoveBroker(ctx, &runnelv1.RemoveBrokerRequest{NodeId: nodeID})
		return err
	})
	if err != nil {
		return 0, err
	}
	return resp.Replicas, nil
}

// ListGroups lists the consumer groups, every group with committed
// offsets or members, and their coordinators.
func (a *Admin) ListGroups(ctx context.Context) ([]*runnelv1.GroupListing, error) {
	var resp *runnelv1.ListGroupsResponse
	err := a.call(ctx, "list groups", false, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.ListGroups(ctx, &runnelv1.ListGroupsRequest{})
		return err
	})
	return resp.GetGroups(), err
}

// DescribeGroup describes a consumer group as its coordinator sees it:
// its state, its members and what each reads, and for each partition
// of the topics it reads the committed offset, high watermark and lag.
func (a *Admin) DescribeGroup(ctx context.Context, group string) (*runnelv1.ConsumerGroup, error) {
	var resp *runnelv1.DescribeGroupResponse
	err := a.call(ctx, "describe group", false, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.DescribeGroup(ctx, &runnelv1.DescribeGroupRequest{Group: group})
		return err
	})
	return resp.GetGroup(), err
}

// DeleteGroup deletes a group's committed offsets. Only a group without
// members can be deleted (FAILED_PRECONDITION otherwise).
func (a *Admin) DeleteGroup(ctx context.Context, group string) error {
	return a.call(ctx, "delete group", true, func(ctx context.Context, s runnelv1.AdminServiceClient) error {
		_, err := s.DeleteGroup(ctx, &runnelv1.DeleteGroupRequest{Group: group})
		return err
	})
}

// OffsetReset says where ResetOffsets moves a group's committed offsets:
// ResetToEarliest, ResetToLatest, ResetToOffset, ResetToTime or
// ResetShiftBy, optionally narrowed to some partitions (Partitions) or
// made a dry run (DryRun).
type OffsetReset struct {
	to         func(*runnelv1.ResetOffsetsRequest)
	what       string
	partitions []int32
	dryRun     bool
}

// ResetToEarliest moves offsets to the log start.
func ResetToEarliest() OffsetReset {
	return OffsetReset{what: "to the earliest", to: func(r *runnelv1.ResetOffsetsRequest) {
		r.To = &runnelv1.ResetOffsetsRequest_ToEarliest{ToEarliest: true}
	}}
}

// ResetToLatest moves offsets to the high watermark: the group skips
// what it has not read.
func ResetToLatest() OffsetReset {
	return OffsetReset{what: "to the latest", to: func(r *runnelv1.ResetOffsetsRequest) {
		r.To = &runnelv1.ResetOffsetsRequest_ToLatest{ToLatest: true}
	}}
}

// ResetToOffset moves offsets to offset in every partition, clamped to
// each log.
func ResetToOffset(offset int64) OffsetReset {
	return OffsetReset{what: fmt.Sprintf("to offset %d", offset), to: func(r *runnelv1.ResetOffsetsRequest) {
		r.To = &runnelv1.ResetOffsetsRequest_ToOffset{ToOffset: offset}
	}}
}

// ResetToTime moves offsets to the first record at or after t (the high
// watermark where there is none).
func ResetToTime(t time.Time) OffsetReset {
	return OffsetReset{what: "to " + t.Format(time.RFC3339Nano), to: func(r *runnelv1.ResetOffsetsRequest) {
		r.To = &runnelv1.ResetOffsetsRequest_ToTime{ToTime: timestamppb.New(t)}
	}}
}

// ResetShiftBy moves the committed offsets by n (negative: back),
// clamped to each log.
func ResetShiftBy(n int64) OffsetReset {
	return OffsetReset{what: fmt.Sprintf("by %d", n), to: func(r *runnelv1.ResetOffsetsRequest) {
		r.To = &runnelv1.ResetOffsetsRequest_ShiftBy{ShiftBy: n}
	}}
}

// Partitions narrows the reset to these partitions (default: all the
// topic's).
func (r OffsetReset) Partitions(partitions ...int32) OffsetReset {
	r.partitions = append([]int32(nil), partitions...)
	return r
}

// DryRun makes the reset compute and return the new offsets, and commit
// nothing.
func (r OffsetReset) DryRun() OffsetReset {
	r.dryRun = true
	return r
}

// ResetOffsets moves a group's committed offsets in one topic, as
// kafka-consumer-groups.sh --reset-offsets does, and returns each
// partition's new offset, high watermark and lag. Only a group without
// members can be reset (FAILED_PRECONDITION otherwise).
//
//	adm.ResetOffsets(ctx, "billing", "orders", client.ResetShiftBy(-10).Partitions(0))
func (a *Admin) ResetOffsets(ctx context.Context, group, topic string, to OffsetReset) ([]*runnelv1.GroupPartition, error) {
	if to.to == nil {
		return nil, status.Error(codes.InvalidArgument, "reset offsets: no target: use ResetToEarliest, ResetToLatest, ResetToOffset, ResetToTime or ResetShiftBy")
	}
	req := &runnelv1.ResetOffsetsRequest{Group: group, Topic: topic, Partitions: to.partitions, DryRun: to.dryRun}
	to.to(req)
	var resp *runnelv1.ResetOffsetsResponse
	// NB: a dry run changes nothing, so it is as safe to repeat as a
	// describe.
	err := a.call(ctx, "reset offsets "+to.what, !to.dryRun, func(ctx context.Context, s runnelv1.AdminServiceClient) (err error) {
		resp, err = s.ResetOffsets(ctx, req)
		return err
	})
	return resp.GetPartitions(), err
}

// order is the brokers a call tries, in turn: the one that answered last
// (success or refusal),
// then the client's candidates (its bootstrap broker, the other bootstrap
// addresses, every broker it learned of).
func (a *Admin) order() []string {
	a.mu.Lock()
	last := a.last
	a.mu.Unlock()
	addrs := a.c.candidates()
	if last == "" {
		return addrs
	}
	out := []string{last}
	for _, addr := range addrs {
		if addr != last {
			out = append(out, addr)
		}
	}
	return out
}

// call runs one admin call, failing over to the next broker as Admin
// says. changes says the call changes something, so that an error after
// an attempt with an unknown outcome says the call may have done it.
func (a *Admin) call(ctx context.Context, what string, changes bool, fn func(context.Context, runnelv1.AdminServiceClient) error) error {
	var (
		failed  []string // "addr: why", every attempt that failed over
		unknown []string // those that may have reached a broker
		last    error
	)
	for _, addr := range a.order() {
		conn, err := a.c.connTo(addr)
		if errors.Is(err, ErrClosed) {
			return err
		}
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, a.c.opts.requestTimeout)
			err = fn(actx, runnelv1.NewAdminServiceClient(conn))
			cancel()
		}
		if ctx.Err() != nil && err != nil {
			return err // the caller's deadline or cancellation, not the broker's doing
		}
		code := status.Code(err)
		if code != codes.Unavailable && code != codes.DeadlineExceeded {
			// NB: a refusal is an answer too: the next call goes here
			// first.
			a.mu.Lock()
			a.last = addr
			a.mu.Unlock()
			if err == nil {
				return nil
			}
			if changes && len(unknown) > 0 {
				return annotate(err, fmt.Sprintf("an earlier attempt may have done it: %s", strings.Join(unknown, "; ")))
			}
			return err
		}
		if code == codes.DeadlineExceeded {
			err = status.Errorf(codes.DeadlineExceeded, "no answer within %s", a.c.opts.requestTimeout)
		}
		a.c.opts.logger.Info("runnel admin: trying another broker", "call", what, "broker", addr, "err", err)
		why := fmt.Sprintf("%s: %s", addr, status.Convert(err).Message())
		failed = append(failed, why)
		if !neverSent(err) {
			unknown = append(unknown, why)
		}
		last = err
	}
	if last == nil {
		return status.Errorf(codes.Unavailable, "%s: no broker to ask", what)
	}
	return status.Errorf(status.Code(last), "%s: no broker answered: %s", what, strings.Join(failed, "; "))
}

// neverSent says a call failed before any broker saw it: gRPC could not
// connect. Anything else (a stream broken midway, no answer in time, the
// broker's own UNAVAILABLE) leaves its outcome unknown.
func neverSent(err error) bool {
	return status.Code(err) == codes.Unavailable && strings.Contains(status.Convert(err).Message(), "while dialing")
}

// annotate adds note to the broker's answer, keeping its status (code,
// details).
func annotate(err error, note string) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%w (%s)", err, note)
	}
	p := st.Proto()
	p.Message = fmt.Sprintf("%s (%s)", p.Message, note)
	return status.FromProto(p).Err()
}
