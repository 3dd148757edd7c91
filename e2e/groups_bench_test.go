package e2e

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// BenchmarkGroupRebalance measures, on three brokers with producers
// writing throughout (as TestConsumerGroups, with its group timeouts),
// how long a partition that moves goes unread: from the last record its
// old owner was delivered to the first its new owner was, as the member
// processes (raw-stub consumers, groupConsumerEnv) record them. Each
// iteration is a new group of two members to which a third joins
// (join-ms: the partitions it takes), then one of the first two is
// killed with SIGKILL (kill9-ms: the partitions it had). Its broker sees
// the stream's connection reset, and the member leaves as a dynamic
// member whose stream ended: a partition it had read nothing beyond the
// committed offset of moves at once, one it had been sent more of (a
// batch on its way, not yet processed and committed) waits for a final
// commit that never comes, until --group-rebalance-timeout (3s here).
// Reported: the median of every moved partition of every iteration, and
// the maximum.
//
//	go test -run='^$' -bench=GroupRebalance -benchtime=5x ./e2e/
func BenchmarkGroupRebalance(b *testing.B) {
	c := startCluster(b, 3, groupTimeouts...)
	admin := c.dial(b, 0)
	if _, err := admin.Admin.CreateTopic(b.Context(), &runnelv1.CreateTopicRequest{
		Name: groupsTopic, Partitions: groupsPartitions, ReplicationFactor: 3,
	}); err != nil {
		b.Fatal(err)
	}
	ledger := newGroupLedger()
	stop := make(chan struct{})
	var producers sync.WaitGroup
	for i := range 3 {
		producers.Go(func() { produceKeyed(c, ledger, i, stop) })
	}
	defer func() { close(stop); producers.Wait() }()
	alive := []int{0, 1, 2}
	var joins, kills []time.Duration
	for i := 0; b.Loop(); i++ {
		grp := fmt.Sprintf("bench-%d", i)
		procs := map[string]*consumerProc{}
		for j := 1; j <= 2; j++ {
			name := fmt.Sprintf("%s-m%d", grp, j)
			procs[name] = startGroupConsumer(b, c, name, grp, j)
		}
		waitGroupStable(b, c, &alive, grp, procs, "two members")
		joined := time.Now()
		third := startGroupConsumer(b, c, grp+"-m3", grp, 0)
		procs[third.name] = third
		waitGroupStable(b, c, &alive, grp, procs, "a third joined")
		killed := time.Now()
		victim := procs[grp+"-m1"]
		victim.kill(b)
		delete(procs, victim.name)
		waitGroupStable(b, c, &alive, grp, procs, "a member killed")
		for _, p := range procs {
			p.stop(b)
		}
		histories := []*memberHistory{{name: victim.name, group: grp, events: victim.snapshot()}}
		for _, p := range procs {
			histories = append(histories, &memberHistory{name: p.name, group: grp, events: p.snapshot()})
		}
		for _, r := range rebalanceTimes(histories, grp, map[string]int64{"join": joined.UnixNano(), "kill": killed.UnixNano()}) {
			b.Logf("%s %s", grp, r)
			if r.change == "join" {
				joins = append(joins, r.moved...)
			} else {
				kills = append(kills, r.moved...)
			}
		}
	}
	b.StopTimer()
	report := func(ds []time.Duration, unit string) {
		if len(ds) == 0 {
			return
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, unit+"-median-ms")
		b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, unit+"-max-ms")
		b.Logf("%s: %d moved partitions: %v", unit, len(ds), ds)
	}
	report(joins, "join")
	report(kills, "kill9")
}
