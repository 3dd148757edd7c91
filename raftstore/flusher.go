package raftstore

import (
	"slices"
	"sync"
	"time"

	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// flusher is the group commit: partitions hand it their dirty logs and
// wait; it syncs every log asked for since its last round in one round (the
// fdatasyncs of different files run in parallel), then wakes all waiters.
// Batches that arrive while a round is in progress wait for the next one,
// so under load each fdatasync covers many batches.
type flusher struct {
	requests chan flushRequest
	done     chan struct{}
	metrics  *metrics
}

type flushRequest struct {
	log    *segment.Log
	result chan error
}

func newFlusher(m *metrics) *flusher {
	f := &flusher{requests: make(chan flushRequest, 1024), done: make(chan struct{}), metrics: m}
	go f.run()
	return f
}

// sync returns once everything appended to log before the call is durable.
func (f *flusher) sync(log *segment.Log) error {
	r := flushRequest{log: log, result: make(chan error, 1)}
	f.requests <- r
	return <-r.result
}

func (f *flusher) stop() { close(f.requests); <-f.done }

func (f *flusher) run() {
	defer close(f.done)
	for first := range f.requests {
		round := []flushRequest{first}
	drain:
		for {
			select {
			case r, ok := <-f.requests:
				if !ok {
					break drain
				}
				round = append(round, r)
			default:
				break drain
			}
		}
		f.syncRound(round)
	}
}

func (f *flusher) syncRound(round []flushRequest) {
	var logs []*segment.Log
	for _, r := range round {
		if !slices.Contains(logs, r.log) {
			logs = append(logs, r.log)
		}
	}
	errs := make([]error, len(logs))
	start := time.Now()
	if len(logs) == 1 {
		errs[0] = logs[0].Sync()
	} else {
		var wg sync.WaitGroup
		for i, log := range logs {
			wg.Go(func() { errs[i] = log.Sync() })
		}
		wg.Wait()
	}
	f.metrics.fsyncSeconds.Observe(time.Since(start).Seconds())
	f.metrics.syncRoundRequests.Observe(float64(len(round)))
	for _, r := range round {
		r.result <- errs[slices.Index(logs, r.log)]
	}
}
