package broker

import (
	"context"
	"time"

	"github.com/runnel-broker/runnel/raftstore"
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
// controller.HandOff decides where each goes; a group with nowhere to go
// (a single node, say) keeps its leader.
func (b *Broker) HandOffLeadership(ctx context.Context) {
	self := uint64(b.cfg.NodeID)
	for {
		var leading []controller.Leading
		led := map[string]*raftstore.Partition{}
		for _, p := range b.store.Partitions() {
			if p.Leader() != self {
				continue
			}
			led[p.Name()] = p
			leading = append(leading, controller.Leading{Partition: p.Name(), Voters: nodeIDs(p.Conf().Voters),
				CaughtUp: nodeIDs(p.CaughtUp())})
		}
		transfers := controller.HandOff(b.cfg.NodeID, leading)
		for _, tr := range transfers {
			led[tr.Partition].TransferLeadership(uint64(tr.To))
		}
		if len(transfers) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			b.logger.Warn("shutting down while still leading", "partitions", len(transfers))
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
