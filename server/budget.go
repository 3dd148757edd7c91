package server

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// memoryBudget bounds the bytes the broker holds for the streams it
// serves (Config.MaxInflightBytes, Kafka's queued.max.request.bytes): a
// produce request from receipt until its ack is known, a subscribe
// response from the read that builds it until gRPC took it. A stream that
// finds the budget spent waits before it reads more, so gRPC flow control
// pushes back on its client; nothing fails.
//
// The semaphore is FIFO: a large request first in line is not starved by
// small ones behind it. A request larger than the whole budget takes all
// of it, so it proceeds alone once the others released theirs.
type memoryBudget struct {
	size    int64
	sem     *semaphore.Weighted
	held    atomic.Int64 // bytes acquired, for tests and metrics
	waiting atomic.Int64 // acquires blocked on the broker's budget
	// waitingStream counts acquires blocked on their stream's share.
	waitingStream atomic.Int64
}

func newMemoryBudget(size int64) *memoryBudget {
	return &memoryBudget{size: size, sem: semaphore.NewWeighted(size)}
}

// stream returns a budget for one stream: it draws on b, and holds at most
// limit bytes of it at once, so that one slow stream cannot hold the whole
// budget.
func (b *memoryBudget) stream(limit int64) *streamBudget {
	return &streamBudget{broker: b, limit: limit, own: semaphore.NewWeighted(limit)}
}

// streamBudget is one stream's share of a memoryBudget.
type streamBudget struct {
	broker *memoryBudget
	limit  int64
	own    *semaphore.Weighted
}

// lease is bytes acquired from a stream's budget; release returns them.
// The zero lease holds nothing.
type lease struct {
	s           *streamBudget
	own, broker int64
}

// acquire waits until n bytes fit in both the stream's limit and the
// broker's budget, or ctx ends. n is clamped to each, so that a request
// larger than either still proceeds, alone. NB: the stream's limit is
// taken first: a stream at its limit waits on itself, not in the broker's
// queue where it would hold back the other streams.
func (s *streamBudget) acquire(ctx context.Context, n int64) (lease, error) {
	if n <= 0 {
		return lease{}, nil
	}
	l := lease{s: s, own: min(n, s.limit), broker: min(n, s.broker.size)}
	b := s.broker
	if !s.own.TryAcquire(l.own) {
		b.waitingStream.Add(1)
		err := s.own.Acquire(ctx, l.own)
		b.waitingStream.Add(-1)
		if err != nil {
			return lease{}, err
		}
	}
	if !b.sem.TryAcquire(l.broker) {
		b.waiting.Add(1)
		err := b.sem.Acquire(ctx, l.broker)
		b.waiting.Add(-1)
		if err != nil {
			s.own.Release(l.own)
			return lease{}, err
		}
	}
	b.held.Add(l.broker)
	return l, nil
}

// release returns the lease's bytes; the lease holds nothing after.
func (l *lease) release() {
	if l.s == nil {
		return
	}
	l.s.broker.held.Add(-l.broker)
	l.s.broker.sem.Release(l.broker)
	l.s.own.Release(l.own)
	*l = lease{}
}

// resize makes the lease hold n bytes: it gives back what it holds beyond
// n, or, to hold more, releases everything and acquires n again, so that
// it never waits while holding part of a budget (two holders each
// waiting for more could wait on each other forever).
func (l *lease) resize(ctx context.Context, n int64) error {
	s := l.s
	if s == nil {
		return nil
	}
	own, broker := min(n, s.limit), min(n, s.broker.size)
	if own <= l.own && broker <= l.broker {
		s.broker.held.Add(broker - l.broker)
		s.broker.sem.Release(l.broker - broker)
		s.own.Release(l.own - own)
		l.own, l.broker = own, broker
		return nil
	}
	l.release()
	next, err := s.acquire(ctx, n)
	*l = next
	return err
}
