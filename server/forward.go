package server

import (
	"context"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/runnel-broker/runnel/server/internal/peer"
)

// forwardedCall reports whether the call was forwarded by another broker:
// it came in on the peer listener with the header. A client setting the
// header gets nothing from it.
func forwardedCall(ctx context.Context) bool {
	if ctx.Value(peerListenerKey{}) == nil {
		return false
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(peer.ForwardedHeader)) > 0
}

// peerListenerKey marks the context of a call that came in on the peer
// listener (see Server.newGRPCServer).
type peerListenerKey struct{}

func markPeerUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(context.WithValue(ctx, peerListenerKey{}, true), req)
}

func markPeerStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	w := middleware.WrapServerStream(ss)
	w.WrappedContext = context.WithValue(ss.Context(), peerListenerKey{}, true)
	return handler(srv, w)
}
