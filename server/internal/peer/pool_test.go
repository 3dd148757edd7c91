package peer

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// admin answers DescribeTopic with what it received: whether the call
// came marked as forwarded.
type admin struct {
	runnelv1.UnimplementedAdminServiceServer
	marked chan bool
}

func (a *admin) DescribeTopic(ctx context.Context, req *runnelv1.DescribeTopicRequest) (*runnelv1.DescribeTopicResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	a.marked <- len(md.Get(ForwardedHeader)) > 0
	return &runnelv1.DescribeTopicResponse{Topic: &runnelv1.Topic{Name: req.Name}}, nil
}

// TestCallsAreMarkedForwarded: every call through the pool carries the
// forwarded marker without the caller adding it, and reaches the broker
// at the address given, on one connection.
func TestCallsAreMarkedForwarded(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	a := &admin{marked: make(chan bool, 2)}
	runnelv1.RegisterAdminServiceServer(srv, a)
	go srv.Serve(lis)
	defer srv.Stop()

	p := NewPool(nil, nil)
	defer p.Close()
	for range 2 {
		resp, err := p.DescribeTopic(context.Background(), lis.Addr().String(), "orders")
		if err != nil || resp.Topic.GetName() != "orders" {
			t.Fatalf("DescribeTopic: %v, %v", resp, err)
		}
		if !<-a.marked {
			t.Fatal("the call reached the broker without the forwarded marker")
		}
	}
	if len(p.conns) != 1 {
		t.Fatalf("%d connections to one broker, want 1", len(p.conns))
	}
}
