package client_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestNewWaitsForAClusterThatIsStarting brings a whole cluster back
// after a power cut, one broker at a time, as a data centre comes back:
// New, asked while the first broker waits for a quorum, waits too, and
// answers once a second broker makes one, rather than failing a client
// that started alongside its brokers.
func TestNewWaitsForAClusterThatIsStarting(t *testing.T) {
	brokers := startCluster(t, 3)
	for _, b := range brokers {
		b.kill()
	}
	brokers[0].restart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		c, err := client.New(ctx, []string{brokers[0].addr, brokers[1].addr}, client.WithRequestTimeout(90*time.Second))
		if err == nil {
			defer c.Close()
			_, err = c.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("New returned while a third of the cluster was up: %v", err)
	case <-time.After(2 * time.Second):
	}
	brokers[1].restart(t)
	if err := <-done; err != nil {
		t.Fatalf("New, once two brokers of three were back: %v", err)
	}
}

// TestNewGivesUpAfterTheRequestTimeout: with no broker listening, New
// fails once its request timeout has passed, naming every address.
func TestNewGivesUpAfterTheRequestTimeout(t *testing.T) {
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		l.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	c, err := client.New(ctx, addrs, client.WithRequestTimeout(time.Second))
	if err == nil {
		c.Close()
		t.Fatal("New answered with no broker listening")
	}
	if ctx.Err() != nil {
		t.Fatalf("New waited past its request timeout, %v: %v", time.Since(start), err)
	}
	for _, a := range addrs {
		if !strings.Contains(err.Error(), a) {
			t.Errorf("the error does not name %s: %v", a, err)
		}
	}
}
