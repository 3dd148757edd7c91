package main

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/runnel-broker/runnel/server"
)

func TestApplyPodIndex(t *testing.T) {
	peers := map[int32]string{1: "r-0.h:7402", 2: "r-1.h:7402", 3: "r-2.h:7402"}
	for _, tc := range []struct {
		name      string
		index     int
		nodeIDSet bool
		peers     map[int32]string
		join      string
		// what the config becomes, or the error
		nodeID    int32
		wantPeers bool
		wantJoin  string
		err       string
	}{
		{name: "single node", index: 0, nodeID: 1},
		{name: "initial broker", index: 2, peers: peers, join: "r-0.h:7402", nodeID: 3, wantPeers: true},
		{name: "initial broker without join", index: 0, peers: peers, nodeID: 1, wantPeers: true},
		{name: "a pod past the peers joins", index: 3, peers: peers, join: "r-0.h:7402", nodeID: 4, wantJoin: "r-0.h:7402"},
		{name: "join alone", index: 5, join: "r-0.h:7402", nodeID: 6, wantJoin: "r-0.h:7402"},
		{name: "past the peers with no join", index: 3, peers: peers, err: "node id 4, which is not among the peers"},
		{name: "with --node-id", index: 0, nodeIDSet: true, err: "give one of them"},
		{name: "negative", index: -1, err: "want 0 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.DefaultConfig()
			cfg.Peers, cfg.Join = maps.Clone(tc.peers), tc.join
			err := applyPodIndex(&cfg, tc.index, tc.nodeIDSet)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.NodeID != tc.nodeID || (len(cfg.Peers) > 0) != tc.wantPeers || cfg.Join != tc.wantJoin {
				t.Fatalf("node id %d, peers %v, join %q; want %d, peers %v, join %q", cfg.NodeID, cfg.Peers, cfg.Join, tc.nodeID, tc.wantPeers, tc.wantJoin)
			}
			if err := cfg.Validate(); err != nil && !strings.Contains(err.Error(), "--advertise") {
				t.Fatalf("the config it makes does not validate: %v", err)
			}
		})
	}
}

// TestServePodIndexFromEnv: RUNNEL_POD_INDEX, as a StatefulSet's downward
// API sets it, makes the node id, as the ready file shows; with --node-id
// too, serve refuses to start.
func TestServePodIndexFromEnv(t *testing.T) {
	t.Setenv("RUNNEL_POD_INDEX", "4")
	if _, err := execute(t, "serve", "--node-id", "2"); err == nil || !strings.Contains(err.Error(), "give one of them") {
		t.Fatalf("serve with RUNNEL_POD_INDEX and --node-id: %v", err)
	}
	p := serveInProcess(t)
	var ready struct {
		NodeID int32 `json:"node_id"`
	}
	if err := json.Unmarshal(p.ready, &ready); err != nil {
		t.Fatal(err)
	}
	if ready.NodeID != 5 {
		t.Fatalf("node id %d with RUNNEL_POD_INDEX=4, want 5", ready.NodeID)
	}
}
