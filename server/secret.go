package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/runnel-broker/runnel/server/internal/errs"
)

// clusterSecretHeader is the metadata a broker's calls to another carry
// the cluster's secret in (Config.ClusterSecretFile).
const clusterSecretHeader = "runnel-cluster-secret"

// minClusterSecret is the shortest secret taken: 128 bits, hex-encoded.
const minClusterSecret = 32

// clusterSecret is the secret the brokers of a cluster share, which the
// peer listener requires of every call: a client that reaches it cannot
// send raft messages, join, or forge a forwarded call. Its credentials
// add it to a broker's calls to the others.
type clusterSecret string

// loadClusterSecret reads the secret file ("": none).
func loadClusterSecret(path string) (clusterSecret, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--cluster-secret-file: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if len(s) < minClusterSecret {
		return "", fmt.Errorf("--cluster-secret-file %s: the secret is %d characters, want at least %d (openssl rand -hex 32 makes one)", path, len(s), minClusterSecret)
	}
	return clusterSecret(s), nil
}

func (s clusterSecret) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{clusterSecretHeader: string(s)}, nil
}

// RequireTransportSecurity is false: the secret is what authenticates
// brokers without TLS (with TLS, their certificates do too).
func (clusterSecret) RequireTransportSecurity() bool { return false }

// errNotABroker: a call on the peer listener without the cluster's secret.
var errNotABroker = errors.New("not a broker")

// check refuses a call whose metadata lacks the secret.
func (s clusterSecret) check(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get(clusterSecretHeader) {
		if subtle.ConstantTimeCompare([]byte(v), []byte(s)) == 1 {
			return nil
		}
	}
	return toStatus(errs.Newf(errNotABroker,
		"this is the brokers' peer listener, which takes calls with the cluster's secret only (--cluster-secret-file): clients call the client listener (--listen)"))
}

func (s clusterSecret) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s clusterSecret) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.check(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}
