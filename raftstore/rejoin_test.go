package raftstore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/raftstore"
)

// TestRejoinAfterLostLog wipes the disk of a replica that acknowledged
// records while a third lagged, with the only other copy's broker down:
// the wiped replica, back with Rejoin, must not vote the lagging one in
// (it would lead without the acknowledged records and overwrite them).
// Once the copy is back, the group goes on with nothing acknowledged
// lost (without Rejoin, the lagging replica is elected with the wiped
// one's vote, and acknowledges a new record at an offset it overwrites),
// and the wiped replica catches up and votes again.
func TestRejoinAfterLostLog(t *testing.T) {
	replicas, peers := startCluster(t, 3)
	parts := openEverywhere(t, replicas, "wiped-0")
	h := newHistory(t, parts...)
	for i := range 10 {
		h.propose(fmt.Sprintf("all-%d", i))
	}
	for _, p := range parts {
		h.check(p)
	}
	// Replica 3 falls behind; the others acknowledge more.
	replicas[2].stop(t)
	h.parts[2] = nil
	for i := range 20 {
		h.propose(fmt.Sprintf("two-%d", i))
	}
	holder, wiped := replicas[0], replicas[1]
	if agreedLeader(t, parts[:2]) == 2 {
		holder, wiped = wiped, holder
	}
	holder.stop(t)
	wiped.stop(t)
	if err := os.RemoveAll(wiped.dir); err != nil {
		t.Fatal(err)
	}

	cfg := raftstore.PartitionConfig{Voters: []uint64{1, 2, 3}}
	wiped.start(t, peers)
	rejoinCfg := cfg
	rejoinCfg.Rejoin = true
	w, err := wiped.store.OpenPartition("wiped-0", rejoinCfg)
	if err != nil {
		t.Fatal(err)
	}
	replicas[2].start(t, peers)
	lagging, err := replicas[2].store.OpenPartition("wiped-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(wiped.dir, "wiped-0", "rejoining")); err != nil {
		t.Fatalf("the rejoining replica has no marker: %v", err)
	}

	holder.start(t, peers)
	back, err := holder.store.OpenPartition("wiped-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.parts[holder.id-1], h.parts[wiped.id-1], h.parts[2] = back, w, lagging
	h.proposeAcked("after")
	for _, p := range h.parts {
		h.check(p)
	}
	select {
	case <-w.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the wiped replica did not catch up in 10s")
	}
	waitUntil(t, "the rejoining marker removed", func() bool {
		_, err := os.Stat(filepath.Join(wiped.dir, "wiped-0", "rejoining"))
		return os.IsNotExist(err)
	})
}
