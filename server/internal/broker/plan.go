package broker

import (
	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/controller"
)

// The broker gathers the state server/internal/controller plans from and
// applies the steps it returns: this file converts between the raft
// store's types and the controller's plain ids.

// groupState is part, which this broker leads, as the controller sees it.
func (b *Broker) groupState(part *raftstore.Partition) controller.Group {
	cs := part.Conf()
	return controller.Group{
		Leader:   b.cfg.NodeID,
		Conf:     controller.Conf{Voters: nodeIDs(cs.Voters), VotersOutgoing: nodeIDs(cs.VotersOutgoing), Learners: nodeIDs(cs.Learners)},
		CaughtUp: nodeIDs(part.CaughtUp()),
		Joinable: part.Joinable(),
	}
}

// applyStep asks part's raft group to take step. Finish and Wait are the
// caller's: there is nothing to ask raft.
func applyStep(part *raftstore.Partition, step controller.Step) {
	switch step.Action {
	case controller.ChangeConf:
		var cc raftpb.ConfChangeV2
		for _, c := range step.Changes {
			cc.Changes = append(cc.Changes, raftpb.ConfChangeSingle{Type: confChangeType(c.Op), NodeID: uint64(c.Node)})
		}
		part.ChangeConf(cc)
	case controller.TransferLeadership:
		part.TransferLeadership(uint64(step.To))
	}
}

func confChangeType(op controller.Op) raftpb.ConfChangeType {
	switch op {
	case controller.AddLearner:
		return raftpb.ConfChangeAddLearnerNode
	case controller.AddVoter:
		return raftpb.ConfChangeAddNode
	case controller.Remove:
		return raftpb.ConfChangeRemoveNode
	}
	panic("broker: unknown controller.Op " + op.String())
}

// nodeIDs are raft ids as node ids: a broker's raft id is its node id.
func nodeIDs(ids []uint64) []int32 {
	if ids == nil {
		return nil
	}
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}
