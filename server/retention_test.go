package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"time"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

func describePartition(t *testing.T, b *testBroker, topic string, p int) *runnelv1.PartitionInfo {
	t.Helper()
	resp, err := b.client.Admin.DescribeTopic(context.Background(), &runnelv1.DescribeTopicRequest{Name: topic})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Partitions[p]
}

// TestRetention checks that size and time retention delete whole old
// segments, move the log start offset, and that reads below it are
// OutOfRange while EARLIEST starts at it.
func TestRetention(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]string
	}{
		// The smallest segments a topic may have; 40 batches of 64 KiB
		// fill two of them and part of a third.
		{"by size", map[string]string{"segment.bytes": "1048576", "retention.bytes": "1048576"}},
		{"by time", map[string]string{"segment.bytes": "1048576", "retention.ms": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, "")
			b.createTopic("short", 1, tc.config)
			value := strings.Repeat("v", 32<<10)
			for range 40 {
				mustAck(t, b.produce(&runnelv1.ProduceRequest{Topic: "short", Records: records(value, value)}))
			}
			waitFor(t, 10*time.Second, "retention to move the log start", func() error {
				if start := describePartition(t, b, "short", 0).LogStartOffset; start <= 0 {
					return fmt.Errorf("log start offset %d", start)
				}
				return nil
			})
			p := describePartition(t, b, "short", 0)
			if p.HighWatermark != 80 {
				t.Fatalf("high watermark %d, want 80", p.HighWatermark)
			}
			_, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "short", StartPosition: runnelv1.StartPosition_START_POSITION_OFFSET})
			wantCode(t, "read below the log start", err, codes.OutOfRange)
			got, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "short", StartPosition: runnelv1.StartPosition_START_POSITION_EARLIEST})
			if err != nil {
				t.Fatal(err)
			}
			start := describePartition(t, b, "short", 0).LogStartOffset
			if len(got[0]) == 0 || got[0][0].Offset > start || got[0][len(got[0])-1].Offset != 79 {
				t.Fatalf("earliest read %d records from %d (log start %d)", len(got[0]), got[0][0].Offset, start)
			}
		})
	}
}
