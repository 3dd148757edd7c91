package broker

import (
	"context"
	"slices"
	"time"

	"github.com/runnel-broker/runnel/server/internal/controller"
)

// leaderBalanceInterval is how often a broker hands the partitions it
// leads back to their preferred leader (Kafka's
// auto.leader.rebalance.enable, checked more often).
const leaderBalanceInterval = 5 * time.Second

// balanceLeaders runs until done: every leaderBalanceInterval, each
// partition this broker leads goes back to its preferred leader (its
// first replica) if that one is caught up (answering, with every
// committed entry), so that leaders stay spread as placement planned
// after failovers. controller.BalanceLeaders decides which.
func (b *Broker) balanceLeaders(done <-chan struct{}) {
	ticker := time.NewTicker(leaderBalanceInterval)
	defer ticker.Stop()
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
		}
		var led []controller.Led
		for _, t := range b.catalog.Topics() {
			for p := range t.Partitions {
				part := b.store.Partition(partitionName(t.Name, p))
				if part == nil || part.Leader() != uint64(b.cfg.NodeID) {
					continue
				}
				_, moving := t.Targets[p]
				led = append(led, controller.Led{Partition: part.Name(), Preferred: t.Assignments[p][0], Moving: moving,
					CaughtUp: nodeIDs(part.CaughtUp())})
			}
		}
		for _, tr := range controller.BalanceLeaders(b.cfg.NodeID, led) {
			if part := b.store.Partition(tr.Partition); part != nil {
				part.TransferLeadership(uint64(tr.To))
			}
		}
	}
}

// HandOffLeadership moves the leadership of every group this broker leads
// to a caught-up voter, and waits until it moved or ctx ends: a
// graceful shutdown then costs clients no election timeout.
func (b *Broker) HandOffLeadership(ctx context.Context) {
	self := uint64(b.cfg.NodeID)
	for {
		// NB: a group with no other replica in sync (a single node, say)
		// keeps its leader: handing it off would stop it.
		handing := 0
		for _, p := range b.store.Partitions() {
			if p.Leader() != self {
				continue
			}
			// NB: voters only: raft ignores a transfer to a learner.
			voters := p.Conf().Voters
			for _, id := range p.CaughtUp() {
				if id != self && slices.Contains(voters, id) {
					p.TransferLeadership(id)
					handing++
					break
				}
			}
		}
		if handing == 0 {
			return
		}
		select {
		case <-ctx.Done():
			b.logger.Warn("shutting down while still leading", "partitions", handing)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
