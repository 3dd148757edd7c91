package controller

import (
	"fmt"
	"slices"
	"strings"
)

// Conf is a raft group's configuration by node id. VotersOutgoing is set
// while the group is in a joint configuration, which raft leaves by
// itself.
type Conf struct {
	Voters         []int32
	VotersOutgoing []int32
	Learners       []int32
}

// Has says whether id is a voter, outgoing voter or learner of c.
func (c Conf) Has(id int32) bool {
	return slices.Contains(c.Voters, id) || slices.Contains(c.VotersOutgoing, id) || slices.Contains(c.Learners, id)
}

// Group is a raft group as its leader sees it.
type Group struct {
	// Leader is the broker that plans: the group's leader.
	Leader int32
	Conf   Conf
	// CaughtUp are the replicas answering with every committed entry.
	CaughtUp []int32
	// Joinable is false for a group whose log does not hold its voters
	// (created by an older version): it cannot take new replicas.
	Joinable bool
}

// Op is a configuration change to one replica.
type Op int

const (
	// AddLearner adds a replica that copies the log without voting.
	AddLearner Op = iota + 1
	// AddVoter promotes a learner.
	AddVoter
	// Remove removes a voter or a learner.
	Remove
)

func (o Op) String() string {
	switch o {
	case AddLearner:
		return "add-learner"
	case AddVoter:
		return "add-voter"
	case Remove:
		return "remove"
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Change is one Op to one replica.
type Change struct {
	Op   Op
	Node int32
}

// Action is what a Step asks its caller to do.
type Action int

const (
	// Wait: nothing to do now; plan again later.
	Wait Action = iota
	// ChangeConf: propose Step.Changes as one configuration change (a
	// joint one if it holds more than one change).
	ChangeConf
	// TransferLeadership: hand the group's leadership to Step.To.
	TransferLeadership
	// Finish: the group is where it should be; record it so.
	Finish
)

// Step is the next thing to do to a group.
type Step struct {
	Action Action
	// Changes, for ChangeConf.
	Changes []Change
	// To, for TransferLeadership.
	To int32
	// Why says, for Wait, what is awaited.
	Why string
}

func (s Step) String() string {
	switch s.Action {
	case Wait:
		return "wait: " + s.Why
	case ChangeConf:
		var b strings.Builder
		b.WriteString("change")
		for _, c := range s.Changes {
			fmt.Fprintf(&b, " %s %d", c.Op, c.Node)
		}
		return b.String()
	case TransferLeadership:
		return fmt.Sprintf("transfer-leadership %d", s.To)
	case Finish:
		return "finish"
	}
	return fmt.Sprintf("action(%d)", int(s.Action))
}

func wait(format string, args ...any) Step {
	return Step{Action: Wait, Why: fmt.Sprintf(format, args...)}
}
