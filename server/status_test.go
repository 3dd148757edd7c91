package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/broker"
)

// TestToStatus: each error the broker returns gets its code through any
// wrapping, with its message intact. Only a stored frame that fails its
// checksum is DATA_LOSS: what a client sent wrong is INVALID_ARGUMENT
// however deep it is found, and a partition stopped on a corrupt log is
// UNAVAILABLE, since the other replicas take over.
func TestToStatus(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("topic %q partition 0: %w", "t", err) }
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{wrap(fmt.Errorf("%w: record 3: bad varint", broker.ErrInvalid)), codes.InvalidArgument},
		{wrap(fmt.Errorf("%w: 40 MiB", raftstore.ErrEntryTooLarge)), codes.InvalidArgument},
		{wrap(broker.ErrTopicNotFound), codes.NotFound},
		{wrap(broker.ErrTopicExists), codes.AlreadyExists},
		{wrap(broker.ErrBrokerNotFound), codes.NotFound},
		{wrap(broker.ErrBrokerRemoved), codes.FailedPrecondition},
		{wrap(broker.ErrPrecondition), codes.FailedPrecondition},
		{wrap(broker.ErrOffsetOutOfRange), codes.OutOfRange},
		{wrap(fmt.Errorf("%w: member m does not own t/0", broker.ErrFenced)), codes.FailedPrecondition},
		{wrap(broker.ErrGroupNotFound), codes.NotFound},
		{wrap(broker.ErrGroupNotEmpty), codes.FailedPrecondition},
		{wrap(&broker.NotCoordinatorError{Group: "g"}), codes.Unavailable},
		{wrap(fmt.Errorf("%w: %w", raftstore.ErrFailed, raftstore.ErrCorrupt)), codes.Unavailable},
		{wrap(raftstore.ErrCorrupt), codes.DataLoss},
		{wrap(raftstore.ErrClosed), codes.Unavailable},
		{wrap(context.DeadlineExceeded), codes.DeadlineExceeded},
		{status.Error(codes.PermissionDenied, "as it came"), codes.PermissionDenied},
		{errors.New("a bug"), codes.Internal},
	} {
		st := status.Convert(toStatus(tc.err))
		if st.Code() != tc.want || st.Message() != tc.err.Error() && tc.want != codes.PermissionDenied {
			t.Errorf("%q: %v %q, want %v with the message intact", tc.err, st.Code(), st.Message(), tc.want)
		}
	}
	if toStatus(nil) != nil {
		t.Error("nil became a status")
	}

	nl := &broker.NotLeaderError{Topic: "t", Partition: 2, Leader: broker.Member{NodeID: 3, Address: "10.0.0.3:7400"},
		Err: raftstore.ErrNotLeader}
	st := status.Convert(toStatus(wrap(nl)))
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "10.0.0.3:7400") {
		t.Fatalf("NotLeader: %v %q", st.Code(), st.Message())
	}
	if d := notLeaderDetail(st); d == nil || d.LeaderId != 3 || d.LeaderAddress != "10.0.0.3:7400" || d.Topic != "t" || d.Partition != 2 {
		t.Fatalf("NotLeader detail %v, want broker 3 at its address for t/2", st.Details())
	}
}

// TestMessagesSayItOnce checks that status messages say what happened
// without restating the code ("invalid argument: ...") or naming the
// storage's packages ("segment: ..."): the code says the class.
func TestMessagesSayItOnce(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	b.createTopic("t", 1, nil)
	subscribeErr := func(offset int64) error {
		_, err := b.readAll(&runnelv1.SubscribeRequest{Topic: "t", StartPosition: runnelv1.StartPosition_START_POSITION_OFFSET, StartOffset: offset})
		return err
	}
	createErr := func(req *runnelv1.CreateTopicRequest) error {
		_, err := b.client.Admin.CreateTopic(ctx, req)
		return err
	}
	for _, tc := range []struct {
		what string
		err  error
		code codes.Code
		msg  string
	}{
		{"produce to a missing topic", status.ErrorProto(b.produce(&runnelv1.ProduceRequest{Topic: "nosuch", Records: records("x")}).Error),
			codes.NotFound, `topic "nosuch" does not exist`},
		{"subscribe at a negative offset", subscribeErr(-1),
			codes.InvalidArgument, "start offset -1 is negative: offsets start at 0 (use START_POSITION_EARLIEST for the log start)"},
		{"subscribe past the end", subscribeErr(5),
			codes.OutOfRange, `topic "t" partition 0: offset 5 is outside [0, 0] (log start, high watermark)`},
		{"create a topic twice", createErr(&runnelv1.CreateTopicRequest{Name: "t", Partitions: 1}),
			codes.AlreadyExists, `topic "t" already exists`},
		{"create with a bad config key", createErr(&runnelv1.CreateTopicRequest{Name: "u", Partitions: 1, Config: map[string]string{"retention.hours": "1"}}),
			codes.InvalidArgument, `unknown config key "retention.hours" (known: compression.type, max.message.bytes, message.timestamp.after.max.ms, message.timestamp.before.max.ms, message.timestamp.type, retention.bytes, retention.ms, segment.bytes, segment.ms)`},
	} {
		if st := status.Convert(tc.err); st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("%s: %v %q, want %v %q", tc.what, st.Code(), st.Message(), tc.code, tc.msg)
		}
	}
}
