package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeLogFormatJSON starts a broker with --log-format json and checks
// that every line it logs, from start to shutdown, is a JSON object.
func TestServeLogFormatJSON(t *testing.T) {
	var stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCommand()
	root.SetArgs([]string{"serve", "--log-format", "json", "--data-dir", t.TempDir(),
		"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"})
	root.SetErr(&stderr)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), `"msg":"runnel serving"`) {
		select {
		case err := <-done:
			t.Fatalf("serve returned %v before serving; stderr:\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving after 30s; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		if rec["level"] == nil || rec["msg"] == nil {
			t.Fatalf("line without level or msg: %q", line)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"msg":"runnel stopped"`) {
		t.Fatalf("last line %q, want runnel stopped", last)
	}
}

func TestServeLogFormatInvalid(t *testing.T) {
	root := newRootCommand()
	root.SetArgs([]string{"serve", "--log-format", "xml"})
	root.SetErr(new(bytes.Buffer))
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), `invalid argument "xml" for "--log-format" flag: use text`) {
		t.Fatalf("serve --log-format xml: %v", err)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
