package server

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// TestCallLogLevels checks that a start and calls ending OK or with a
// client's mistake log their "finished call" lines at Debug, and nothing
// at Warn.
func TestCallLogLevels(t *testing.T) {
	var logs logRecorder
	b := startBrokerWith(t, "", func(c *Config) { c.Logger = slog.New(&logs) })
	ctx := context.Background()
	b.createTopic("t", 1, nil)
	_, err := b.client.Admin.CreateTopic(ctx, &runnelv1.CreateTopicRequest{Name: "t", Partitions: 1})
	wantCode(t, "create t again", err, codes.AlreadyExists)
	_, err = b.client.Admin.DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: "missing"})
	wantCode(t, "describe a missing topic", err, codes.NotFound)
	b.stop()

	var finished int
	for _, r := range logs.all() {
		if r.msg == "finished call" {
			finished++
			if r.level != slog.LevelDebug {
				t.Errorf("finished call at %v, want DEBUG", r.level)
			}
		}
		if r.level >= slog.LevelWarn {
			t.Errorf("logged at %v: %s", r.level, r.msg)
		}
	}
	if finished < 3 {
		t.Errorf("%d finished call lines for 3 calls", finished)
	}
}

// TestCallLevel keeps the broker's own failures above Info.
func TestCallLevel(t *testing.T) {
	for _, code := range []codes.Code{codes.Internal, codes.DataLoss, codes.Unknown} {
		if lvl := slog.Level(callLevel(code)); lvl < slog.LevelError {
			t.Errorf("callLevel(%v) = %v, want ERROR", code, lvl)
		}
	}
}

// logRecorder is a slog.Handler keeping every record's level and message.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	level slog.Level
	msg   string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, logRecord{r.Level, r.Message})
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) all() []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logRecord(nil), l.recs...)
}
