package main

import (
	"errors"
	"fmt"

	"github.com/runnel-broker/runnel/server"
)

// applyPodIndex is --pod-index: a StatefulSet pod's index (Kubernetes'
// apps.kubernetes.io/pod-index label, 0 for pod runnel-0, which the
// downward API passes as RUNNEL_POD_INDEX) makes the node id, index + 1,
// since node ids start at 1. One pod template then serves every broker
// with no shell to compute it, and so it also picks how the broker
// starts: a broker --peers lists starts (or restarts) the cluster with
// them, and any other, a pod past the initial ones, joins through --join.
// nodeIDSet says whether --node-id was given too, which is an error.
func applyPodIndex(cfg *server.Config, index int, nodeIDSet bool) error {
	if nodeIDSet {
		return errors.New("--pod-index and --node-id: the pod index sets the node id, give one of them")
	}
	if index < 0 || index >= 1<<31-1 {
		return fmt.Errorf("--pod-index %d: want 0 or more", index)
	}
	cfg.NodeID = int32(index + 1)
	if len(cfg.Peers) == 0 {
		return nil
	}
	if _, initial := cfg.Peers[cfg.NodeID]; initial {
		cfg.Join = ""
		return nil
	}
	if cfg.Join == "" {
		return fmt.Errorf("--pod-index %d makes node id %d, which is not among the peers (%s): set --join too, for the pods past them",
			index, cfg.NodeID, server.FormatPeers(cfg.Peers))
	}
	cfg.Peers = nil
	return nil
}
