package server

import (
	"context"
	"strings"

	"google.golang.org/grpc"

	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// The client API waits for the broker to start; the raft transport,
// health and reflection do not.
const clientAPIPrefix = "/runnel.v1."

func (s *Server) checkStarted(method string) error {
	if !strings.HasPrefix(method, clientAPIPrefix) {
		return nil
	}
	select {
	case <-s.broker.Started():
		return nil
	default:
		return toStatus(errs.Newf(broker.ErrUnavailable, "the broker is starting: it is waiting for a quorum of brokers or replaying its logs; retry shortly"))
	}
}

func (s *Server) unaryStarted(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.checkStarted(info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) streamStarted(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.checkStarted(info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
