package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHealth asks a broker's health with runnel health: SERVING (exit 0)
// once it serves, an error for a service it does not know, and an error
// once nothing listens.
func TestHealth(t *testing.T) {
	p := serveInProcess(t)
	ready := p.addrs(t)
	ctx := context.Background()
	addr := ready.GRPC

	for _, tc := range []struct {
		args    []string
		out     string
		wantErr string // "" for success
	}{
		{[]string{"--broker", addr}, "SERVING\n", ""},
		{[]string{"--broker", addr, "--service", "runnel.v1.ProduceService"}, "SERVING\n", ""},
		{[]string{"--broker", addr, "--service", "no.such.Service"}, "", "code = NotFound"},
		{[]string{"--broker", addr + ",127.0.0.1:1"}, "", "give one address"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, _, err := run(ctx, "", append([]string{"health"}, tc.args...)...)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("health: %v, want error %q", err, tc.wantErr)
			}
			if out != tc.out {
				t.Fatalf("health printed %q, want %q", out, tc.out)
			}
		})
	}

	if err := p.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, _, err := run(context.Background(), "", "health", "--broker", addr, "--timeout", "2s"); err == nil || !strings.Contains(err.Error(), "code = Unavailable") {
		t.Fatalf("health of a stopped broker: %v, want Unavailable", err)
	}
}

// TestHealthNotServing asks the health of a broker of a two-broker
// cluster whose other broker never starts: it listens, but waits for a
// quorum, so it answers NOT_SERVING and runnel health fails.
func TestHealthNotServing(t *testing.T) {
	grpcLis, httpLis, peerLis, otherPeer := listen(t), listen(t), listen(t), listen(t)
	cmd, log := startActivated(t, "grpc:http:peer", []net.Listener{grpcLis, httpLis, peerLis},
		"--node-id", "1", "--data-dir", t.TempDir(), "--advertise", grpcLis.Addr().String(),
		"--peers", fmt.Sprintf("1=%s,2=%s", peerLis.Addr(), otherPeer.Addr()))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("broker log:\n%s", log.String())
		}
	})
	var out string
	var err error
	waitFor(t, 10*time.Second, "an answer from the health service", func() bool {
		out, _, err = run(context.Background(), "", "health", "--broker", grpcLis.Addr().String())
		return err == nil || !strings.Contains(err.Error(), "code = Unavailable")
	})
	if out != "NOT_SERVING\n" || err == nil || !strings.Contains(err.Error(), "is NOT_SERVING") {
		t.Fatalf("health: printed %q, error %v; want NOT_SERVING and an error", out, err)
	}
}
