package redial

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// MaxDelay is the longest wait between two dials of a broker that does
// not answer, as Kafka's reconnect.backoff.max.ms.
const MaxDelay = time.Second

// Option is the dial option every Runnel client connection takes: gRPC's
// backoff (starting at 100 ms, times 1.6 with 20% jitter), capped at
// MaxDelay, and a dial given 5 s to connect.
func Option() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: MaxDelay},
		MinConnectTimeout: 5 * time.Second,
	})
}
