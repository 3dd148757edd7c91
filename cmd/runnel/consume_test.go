package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConsumeFollowThroughABrokerKill: runnel consume --follow reads a
// 3-broker cluster's topic through the broker it first connects to, which
// also leads a partition; that broker is killed, and consume goes on
// printing, through the others, every record exactly once: those produced
// before the kill and those after, warning on stderr that its read broke.
// As a group member too, which then re-attaches to its group, and commits
// what it printed when interrupted.
func TestConsumeFollowThroughABrokerKill(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"partitions", nil},
		{"member", []string{"--group", "followers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := startCluster(t, 3)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			adm := newAdmin(t, ctx, addrs(brokers...))
			if _, err := adm.CreateTopic(ctx, "orders", 2, 3, nil); err != nil {
				t.Fatal(err)
			}
			d, err := adm.DescribeTopic(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			// NB: the broker consume connects to first (its first
			// --broker) is the leader of partition 0.
			first := int(d.Partitions[0].Leader - 1)
			order := []*testBroker{brokers[first]}
			var survivors []*testBroker
			for i, b := range brokers {
				if i != first {
					order = append(order, b)
					survivors = append(survivors, b)
				}
			}
			produce := func(list string, from, to int) {
				t.Helper()
				for p := range 2 {
					var in strings.Builder
					for i := from; i < to; i++ {
						fmt.Fprintf(&in, "p%d-%d\n", p, i)
					}
					if out, errOut, err := run(ctx, in.String(), "produce", "orders", "--partition", fmt.Sprint(p), "--broker", list); err != nil {
						t.Fatalf("produce: %v\n%s%s", describeError(err), out, errOut)
					}
				}
			}
			produce(addrs(brokers...), 0, 50)

			var stdout, stderr lockedBuffer
			consumeCtx, interrupt := context.WithCancel(ctx)
			defer interrupt()
			done := make(chan error, 1)
			go func() {
				root := newRootCommand()
				root.SetArgs(append([]string{"consume", "orders", "--follow", "--broker", addrs(order...)}, tc.extra...))
				root.SetOut(&stdout)
				root.SetErr(&stderr)
				done <- root.ExecuteContext(consumeCtx)
			}()
			printed := func(n int) func() bool {
				return func() bool { return strings.Count(stdout.String(), "\n") >= n }
			}
			waitFor(t, time.Minute, "the records produced before the kill printed", printed(100))

			brokers[first].kill()
			produce(addrs(survivors...), 50, 100)
			waitFor(t, 2*time.Minute, "the records produced after the kill printed", printed(200))
			interrupt()
			if err := <-done; err != nil {
				t.Fatalf("consume --follow: %v\nstderr:\n%s", describeError(err), stderr.String())
			}
			// It said why records paused: the SDK's warning, on stderr.
			if log := stderr.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "broke") ||
				!strings.Contains(log, "broker="+brokers[first].addr) {
				t.Errorf("consume --follow did not warn that its read from the killed broker %s broke; stderr:\n%s", brokers[first].addr, log)
			}

			lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			byPartition := map[int][]string{}
			for _, l := range lines {
				var p, i int
				if _, err := fmt.Sscanf(l, "p%d-%d", &p, &i); err != nil {
					t.Fatalf("consume printed %q", l)
				}
				byPartition[p] = append(byPartition[p], l)
			}
			for p := range 2 {
				var want []string
				for i := range 100 {
					want = append(want, fmt.Sprintf("p%d-%d", p, i))
				}
				if !slices.Equal(byPartition[p], want) {
					t.Errorf("partition %d: printed %d records, not each of its 100 once in order:\n%v", p, len(byPartition[p]), byPartition[p])
				}
			}
			if tc.extra == nil {
				return
			}
			// Interrupted, the member committed what it printed: all.
			g, err := adm.DescribeGroup(ctx, "followers")
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Partitions) != 2 {
				t.Fatalf("group followers: %d partitions, want 2", len(g.Partitions))
			}
			for _, p := range g.Partitions {
				if p.CommittedOffset != 100 {
					t.Errorf("group followers: partition %d committed at %d, want 100", p.Partition, p.CommittedOffset)
				}
			}
		})
	}
}
