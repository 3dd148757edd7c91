package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/quota"
)

// codeTable decides every gRPC status code the services return, first
// match wins; errors.Is sees through wrapping, so the broker's messages
// (which say what to fix) reach the client intact.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{context.Canceled, codes.Canceled},
	{errUnauthenticated, codes.Unauthenticated},
	{errPermissionDenied, codes.PermissionDenied},
	{errNotABroker, codes.PermissionDenied},
	{errTooManyStreams, codes.ResourceExhausted},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{broker.ErrTopicNotFound, codes.NotFound},
	{broker.ErrTopicExists, codes.AlreadyExists},
	{broker.ErrBrokerExists, codes.AlreadyExists},
	{broker.ErrBrokerNotFound, codes.NotFound},
	{broker.ErrBrokerRemoved, codes.FailedPrecondition},
	{broker.ErrPrecondition, codes.FailedPrecondition},
	{broker.ErrInvalid, codes.InvalidArgument},
	{raftstore.ErrEntryTooLarge, codes.InvalidArgument},
	{broker.ErrOffsetOutOfRange, codes.OutOfRange},
	{broker.ErrFenced, codes.FailedPrecondition},
	{broker.ErrProducerFenced, codes.FailedPrecondition},
	{broker.ErrOutOfOrderSequence, codes.FailedPrecondition},
	{broker.ErrGroupNotFound, codes.NotFound},
	{broker.ErrGroupNotEmpty, codes.FailedPrecondition},
	{broker.ErrGroupFull, codes.ResourceExhausted},
	{quota.ErrExceeded, codes.ResourceExhausted},
	{broker.ErrUnavailable, codes.Unavailable},
	{raftstore.ErrClosed, codes.Unavailable},
	// NB: before ErrCorrupt, which a failed partition's error may wrap:
	// the other replicas take over, so the call is worth retrying.
	{raftstore.ErrFailed, codes.Unavailable},
	{raftstore.ErrCorrupt, codes.DataLoss},
}

// toStatus converts err into a gRPC status error; nil stays nil.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if nl, ok := errors.AsType[*broker.NotLeaderError](err); ok {
		// NB: the detail lets SDKs go to the leader directly.
		st, derr := status.New(codes.Unavailable, err.Error()).WithDetails(&runnelv1.NotLeader{
			Topic: nl.Topic, Partition: nl.Partition, LeaderId: nl.Leader.NodeID, LeaderAddress: nl.Leader.Address,
		})
		if derr == nil {
			return st.Err()
		}
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

// unavailable reports whether a call to another broker failed UNAVAILABLE:
// that broker is down, starting or shutting down, and another may answer.
func unavailable(err error) bool { return status.Code(err) == codes.Unavailable }

// outOfRange reports whether a call to another broker failed
// OUT_OF_RANGE: the offset asked for is outside the replica's log.
func outOfRange(err error) bool { return status.Code(err) == codes.OutOfRange }

// isFenced reports whether a commit failed because its group member no
// longer holds what it committed.
func isFenced(err error) bool { return status.Code(err) == codes.FailedPrecondition }

// retriable reports whether a call to another broker is worth making
// again: it failed UNAVAILABLE or ran out of time.
func retriable(err error) bool {
	c := status.Code(err)
	return c == codes.Unavailable || c == codes.DeadlineExceeded
}

// invalid returns an InvalidArgument status for a malformed request.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
