package server

import (
	"context"
	"testing"
	"time"
)

// TestMemoryBudgetLeases checks the accounting: clamping to the stream's
// limit and the budget, resizing down and up, and that a stream at its
// limit waits on itself while another stream still gets budget.
func TestMemoryBudgetLeases(t *testing.T) {
	ctx := context.Background()
	b := newMemoryBudget(100)
	s := b.stream(40)

	big, err := s.acquire(ctx, 1000) // larger than both: clamped, proceeds
	if err != nil || big.own != 40 || big.broker != 100 || b.held.Load() != 100 {
		t.Fatalf("acquire 1000: %+v, %v, held %d; want 40 of the stream, all 100", big, err, b.held.Load())
	}
	big.release()
	big.release() // twice is harmless
	if b.held.Load() != 0 {
		t.Fatalf("held %d after release, want 0", b.held.Load())
	}

	l, _ := s.acquire(ctx, 30)
	if err := l.resize(ctx, 10); err != nil || l.own != 10 || b.held.Load() != 10 {
		t.Fatalf("resize down: %+v, %v, held %d", l, err, b.held.Load())
	}
	if err := l.resize(ctx, 35); err != nil || l.own != 35 || b.held.Load() != 35 {
		t.Fatalf("resize up: %+v, %v, held %d", l, err, b.held.Load())
	}

	// The stream has 5 left: a 10 waits on the stream, not the broker.
	waited := make(chan error, 1)
	go func() {
		more, err := s.acquire(ctx, 10)
		more.release()
		waited <- err
	}()
	waitFor(t, 5*time.Second, "the acquire to wait on its stream", func() error { return is("streams waiting on their share", b.waitingStream.Load(), 1) })
	if b.waiting.Load() != 0 {
		t.Fatalf("%d waiting on the broker, want 0", b.waiting.Load())
	}
	other, err := b.stream(40).acquire(ctx, 40) // another stream is not held up
	if err != nil || b.held.Load() != 75 {
		t.Fatalf("another stream: %v, held %d", err, b.held.Load())
	}
	l.release()
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	other.release()
	if b.held.Load() != 0 {
		t.Fatalf("held %d at the end, want 0", b.held.Load())
	}

	// An acquire whose context ends gives up and holds nothing.
	full, _ := b.stream(100).acquire(ctx, 100)
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() {
		_, err := s.acquire(cctx, 10)
		gaveUp <- err
	}()
	waitFor(t, 5*time.Second, "the acquire to wait on the broker", func() error { return is("streams waiting on the broker", b.waiting.Load(), 1) })
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("acquire on a spent budget returned nil with its context cancelled")
	}
	full.release()
	if b.held.Load() != 0 {
		t.Fatalf("held %d after a cancelled acquire, want 0", b.held.Load())
	}
	if got, _ := s.acquire(ctx, 40); got.own != 40 { // the stream's share came back too
		t.Fatalf("stream share after a cancelled acquire: %+v", got)
	}
}
