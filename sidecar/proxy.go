package sidecar

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// frame is a message the relay passes on as it came, undecoded.
type frame struct{ data []byte }

// relayCodec is the sidecar server's codec: frames pass through as
// bytes, every other message is protobuf.
type relayCodec struct{ proto encoding.CodecV2 }

func newRelayCodec() relayCodec { return relayCodec{proto: encoding.GetCodecV2("proto")} }

func (c relayCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*frame); ok {
		return mem.BufferSlice{mem.SliceBuffer(f.data)}, nil
	}
	return c.proto.Marshal(v)
}

func (c relayCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*frame); ok {
		f.data = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (relayCodec) Name() string { return "proto" }

// relayed are the services the sidecar relays to the cluster as they
// are: every public one but ProduceService and SubscribeService, which it
// serves (a subscription is relayed too, but resumed when it breaks).
var relayed = []string{
	runnelv1.AdminService_ServiceDesc.ServiceName,
	runnelv1.CommitService_ServiceDesc.ServiceName,
}

// sidecarNodeID is the node id the sidecar shows itself as.
const sidecarNodeID = 1

// relay is the handler of every call the sidecar does not serve: a call
// to a relayed service goes to an upstream broker (the next one while
// they are unreachable, until one answers), and its messages come back as
// they were, but for DescribeCluster and DescribeTopic, which show the
// sidecar as the cluster's broker.
func (s *Sidecar) relay(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "no method")
	}
	service, _, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	known := false
	for _, r := range relayed {
		known = known || r == service
	}
	if !known {
		return status.Errorf(codes.Unimplemented, "unknown service %s: a Runnel sidecar serves runnel.v1's services, health and reflection", service)
	}
	// NB: every relayed call is unary or server-streaming: one request.
	req := &frame{}
	if err := ss.RecvMsg(req); err != nil {
		return err
	}
	ctx := outgoing(ss.Context())
	var errs []error
	for _, addr := range s.up.order() {
		c, err := s.up.conn(addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cs, err := c.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodecV2(newRelayCodec()))
		if err == nil {
			err = cs.SendMsg(req)
		}
		if err == nil {
			err = cs.CloseSend()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		relayedAny, err := s.relayResponses(method, cs, ss)
		if err != nil && !relayedAny && retriable(err) && ctx.Err() == nil {
			// Nothing reached the application: the next broker may answer.
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		if err == nil {
			s.up.answered(addr)
		}
		return err
	}
	s.metrics.upstreamErrors.WithLabelValues(codes.Unavailable.String()).Inc()
	if resp, ok := s.describeFromCache(method, req.data); ok {
		// NB: an SDK that refreshes its metadata while the cluster is
		// unreachable keeps producing to the sidecar.
		return ss.SendMsg(resp)
	}
	return status.Errorf(codes.Unavailable, "the sidecar reached no upstream broker: %v", errors.Join(errs...))
}

// describeFromCache answers DescribeCluster and DescribeTopic from what
// the sidecar knows when no upstream broker answers: the sidecar as the
// broker, the topics' partition counts.
func (s *Sidecar) describeFromCache(method string, req []byte) (*frame, bool) {
	var resp proto.Message
	switch method {
	case runnelv1.AdminService_DescribeCluster_FullMethodName:
		resp = &runnelv1.DescribeClusterResponse{ClusterId: s.meta.cluster(), ControllerId: sidecarNodeID,
			Brokers: []*runnelv1.Broker{{NodeId: sidecarNodeID, Address: s.advertised(), State: runnelv1.BrokerState_BROKER_STATE_ONLINE}}}
	case runnelv1.AdminService_DescribeTopic_FullMethodName:
		var r runnelv1.DescribeTopicRequest
		if proto.Unmarshal(req, &r) != nil {
			return nil, false
		}
		t := s.meta.known(r.Name)
		if t == nil {
			return nil, false
		}
		d := &runnelv1.DescribeTopicResponse{Topic: &runnelv1.Topic{Name: r.Name, Partitions: t.Partitions,
			Config: map[string]string{"max.message.bytes": strconv.Itoa(t.MaxMessageBytes)}}}
		for p := range t.Partitions {
			d.Partitions = append(d.Partitions, &runnelv1.PartitionInfo{Partition: p, Leader: sidecarNodeID})
		}
		resp = d
	default:
		return nil, false
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		return nil, false
	}
	return &frame{data: b}, true
}

// relayResponses passes the upstream call's responses to the
// application's stream, and says whether any went.
func (s *Sidecar) relayResponses(method string, cs grpc.ClientStream, ss grpc.ServerStream) (bool, error) {
	relayedAny := false
	for {
		resp := &frame{}
		err := cs.RecvMsg(resp)
		if errors.Is(err, io.EOF) {
			ss.SetTrailer(cs.Trailer())
			return relayedAny, nil
		}
		if err != nil {
			return relayedAny, err
		}
		if !relayedAny {
			if md, err := cs.Header(); err == nil {
				ss.SendHeader(md)
			}
		}
		if resp.data, err = s.rewrite(method, resp.data); err != nil {
			return relayedAny, err
		}
		if err := ss.SendMsg(resp); err != nil {
			return relayedAny, err
		}
		relayedAny = true
	}
}

// rewrite shows the sidecar in the cluster's descriptions: the only
// broker, leading every partition at epoch 0 (so that no SDK fences its
// requests with a leader epoch the sidecar does not have).
func (s *Sidecar) rewrite(method string, data []byte) ([]byte, error) {
	switch method {
	case runnelv1.AdminService_DescribeCluster_FullMethodName:
		var resp runnelv1.DescribeClusterResponse
		if err := proto.Unmarshal(data, &resp); err != nil {
			return nil, status.Errorf(codes.Internal, "relay DescribeCluster: %v", err)
		}
		var b runnelv1.Broker
		if len(resp.Brokers) > 0 {
			b.State, b.Version = resp.Brokers[0].State, resp.Brokers[0].Version
		}
		b.NodeId, b.Address = sidecarNodeID, s.advertised()
		resp.Brokers, resp.ControllerId = []*runnelv1.Broker{&b}, sidecarNodeID
		return proto.Marshal(&resp)
	case runnelv1.AdminService_DescribeTopic_FullMethodName:
		var resp runnelv1.DescribeTopicResponse
		if err := proto.Unmarshal(data, &resp); err != nil {
			return nil, status.Errorf(codes.Internal, "relay DescribeTopic: %v", err)
		}
		for _, p := range resp.Partitions {
			p.Leader, p.LeaderEpoch = sidecarNodeID, 0
		}
		return proto.Marshal(&resp)
	}
	return data, nil
}

// serviceInfo lists, for reflection, the services served and relayed.
type serviceInfo struct{ srv *grpc.Server }

func (i serviceInfo) GetServiceInfo() map[string]grpc.ServiceInfo {
	m := i.srv.GetServiceInfo()
	for _, name := range relayed {
		m[name] = grpc.ServiceInfo{}
	}
	return m
}
