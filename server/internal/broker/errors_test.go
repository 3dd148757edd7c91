package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/runnel-broker/runnel/raftstore"
)

// TestNotLeaderErrorMessage: the message names the partition, what raft
// said without raftstore's package name, and the leader to go to.
func TestNotLeaderErrorMessage(t *testing.T) {
	err := &NotLeaderError{Topic: "t", Partition: 1, Leader: Member{NodeID: 2, Address: "10.0.0.2:7400"},
		Err: fmt.Errorf("%w: the batch is for the leader of term 3", raftstore.ErrNotLeader)}
	want := `topic "t" partition 1: not the partition leader: the batch is for the leader of term 3; its leader is broker 2 at 10.0.0.2:7400: retry`
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, raftstore.ErrNotLeader) {
		t.Errorf("%v is not ErrUnavailable and raftstore.ErrNotLeader", err)
	}
}
