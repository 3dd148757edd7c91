package broker

import (
	"context"
	"slices"
	"time"

	"github.com/runnel-broker/runnel/raftstore"
)

// leaderBalanceInterval is how often a broker hands the partitions it
// leads back to their preferred leader (Kafka's
// auto.leader.rebalance.enable, checked more often).
const leaderBalanceInterval = 5 * time.Second

// balanceLeaders runs until done: every leaderBalanceInterval, each
// partition this broker leads but whose preferred leader (its first
// replica) is in sync goes back to that replica, so that leaders stay
// spread as placement planned after failovers.
func (b *Broker) balanceLeaders(done <-chan struct{}) {
	ticker := time.NewTicker(leaderBalanceInterval)
	defer ticker.Stop()
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
		}
		for _, t := range b.catalog.Topics() {
			for p := range t.Partitions {
				part := b.store.Partition(partitionName(t.Name, p))
				preferred := uint64(t.Assignments[p][0])
				if part == nil || part.Leader() != uint64(b.cfg.NodeID) || preferred == uint64(b.cfg.NodeID) {
					continue
				}
				if slices.Contains(part.InSync(), preferred) {
					part.TransferLeadership(preferred)
				}
			}
		}
	}
}

// HandOffLeadership moves the leadership of every group this broker leads
// to an in-sync follower, and waits until it moved or ctx ends: a
// graceful shutdown then costs clients no election timeout.
func (b *Broker) HandOffLeadership(ctx context.Context) {
	self := uint64(b.cfg.NodeID)
	led := func() []*raftstore.Partition {
		var out []*raftstore.Partition
		for _, p := range b.store.Partitions() {
			if p.Leader() == self {
				out = append(out, p)
			}
		}
		return out
	}
	for {
		parts := led()
		if len(parts) == 0 {
			return
		}
		for _, p := range parts {
			for _, id := range p.InSync() {
				if id != self {
					p.TransferLeadership(id)
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			b.logger.Warn("shutting down while still leading", "partitions", len(parts))
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
