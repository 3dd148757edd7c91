package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
)

// TestClusterRemoveBroker: in a cluster of three with a fourth broker
// that joined, `runnel cluster remove-broker 4` moves its replicas off,
// waits until it is gone from cluster describe, printing progress, and
// its process then stops cleanly; the records produced before read back.
// The command goes through the broker removed, as when run in its pod.
// An unknown node id and an initial broker are refused.
func TestClusterRemoveBroker(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	g, h, p := listen(t), listen(t), listen(t)
	readyFile := filepath.Join(dir, "ready.json")
	cmd, log := startActivated(t, "grpc:http:peer", []net.Listener{g, h, p},
		"--node-id", "4", "--data-dir", filepath.Join(dir, "broker-4"), "--ready-file", readyFile,
		"--advertise", g.Addr().String(), "--advertise-peer", p.Addr().String(), "--join", brokers[0].peer)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("broker 4 log:\n%s", log.String())
		}
	})
	waitReadyFile(t, readyFile, exited, log)
	g.Close()
	h.Close()
	p.Close()

	all := addrs(brokers...)
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := run(ctx, stdin, args...)
		if err != nil {
			t.Fatalf("runnel %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), describeError(err), out, errOut)
		}
		return out + errOut
	}
	waitFor(t, 30*time.Second, "broker 4 in cluster describe", func() bool {
		out, _, err := run(ctx, "", "cluster", "describe", "--broker", all)
		return err == nil && strings.Contains(out, g.Addr().String())
	})
	must("", "topic", "create", "orders", "--partitions", "4", "--replication-factor", "3", "--broker", all)
	var want []string
	for i := range 4 {
		v := fmt.Sprintf("r%d", i)
		must(v+"\n", "produce", "orders", "--partition", fmt.Sprint(i), "--broker", all)
		want = append(want, v)
	}

	_, _, err := run(ctx, "", "cluster", "remove-broker", "9", "--broker", all)
	if status.Code(err) != codes.NotFound {
		t.Fatalf("remove-broker 9: %v, want NotFound", err)
	}
	_, _, err = run(ctx, "", "cluster", "remove-broker", "2", "--broker", all)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("remove-broker 2, an initial broker: %v, want FailedPrecondition", err)
	}
	// NB: through the broker removed, as `kubectl exec` into its pod does.
	out := must("", "cluster", "remove-broker", "4", "--broker", g.Addr().String())
	if !strings.Contains(out, "Decommissioning broker 4: moving its 3 partition replica(s)") || !strings.Contains(out, "Done: broker 4 left the cluster") {
		t.Fatalf("remove-broker 4:\n%s", out)
	}
	t.Logf("remove-broker 4:\n%s", out)
	if out := must("", "cluster", "describe", "--broker", all); strings.Contains(out, g.Addr().String()) || strings.Count(out, "127.0.0.1:") != 3 {
		t.Fatalf("cluster describe after the removal:\n%s", out)
	}
	c, err := client.Dial(brokers[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, err := client.NewAdmin(c).DescribeTopic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range desc.Partitions {
		if slices.Contains(p.Replicas, 4) || len(p.Replicas) != 3 {
			t.Fatalf("after the removal: partition %d on %v", p.Partition, p.Replicas)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the removed broker's process: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the removed broker did not stop within 30s of SIGTERM")
	}
	got := must("", "consume", "orders", "--from", "earliest", "--broker", all)
	for _, v := range want {
		if !strings.Contains(got, v+"\n") {
			t.Fatalf("consume after the removal: %q, want each of %v", got, want)
		}
	}
}
