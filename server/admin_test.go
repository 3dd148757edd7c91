package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/buildinfo"
)

func TestAdmin(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	b.createTopic("b-topic", 2, map[string]string{"retention.ms": "1000"})
	b.createTopic("a-topic", 1, nil)

	list, err := b.client.Admin.ListTopics(ctx, &runnelv1.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Topics) != 2 || list.Topics[0].Name != "a-topic" || list.Topics[1].Name != "b-topic" {
		t.Fatalf("ListTopics = %v: want a-topic, b-topic and no internal topics", list.Topics)
	}
	mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "b-topic", Partition: ptr(int32(1)), Records: records("x", "y")}))
	d, err := b.client.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "b-topic"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Topic.Config["retention.ms"] != "1000" || d.Topic.Config["segment.bytes"] != "1073741824" {
		t.Fatalf("effective config = %v", d.Topic.Config)
	}
	if len(d.Partitions) != 2 || d.Partitions[1].HighWatermark != 2 || d.Partitions[1].Leader != 1 ||
		len(d.Partitions[1].Replicas) != 1 || d.Partitions[0].HighWatermark != 0 {
		t.Fatalf("partitions = %v", d.Partitions)
	}
	c, err := b.client.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ClusterId == "" || c.ControllerId != 1 || len(c.Brokers) != 1 || c.Brokers[0].Address != b.srv.Addr().String() ||
		c.Brokers[0].Version != buildinfo.Read().String() {
		t.Fatalf("DescribeCluster = %v", c)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	b := startBroker(t, "")
	h, err := healthpb.NewHealthClient(b.client.Conn()).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "runnel.v1.ProduceService"})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", h, err)
	}
	b.createTopic("t", 1, nil)
	get := func(path string) string {
		resp, err := http.Get("http://" + b.srv.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(body)
	}
	if body := get("/healthz"); strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz = %q", body)
	}
	body := get("/metrics")
	if !strings.Contains(body, `grpc_server_handled_total{grpc_code="OK",grpc_method="CreateTopic"`) {
		t.Fatalf("/metrics lacks the CreateTopic call count:\n%s", body)
	}
	info := buildinfo.Read()
	if want := fmt.Sprintf("runnel_build_info{goversion=%q,revision=%q,version=%q} 1\n", info.GoVersion, info.Revision, info.Version); !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %q:\n%s", want, body)
	}
}
