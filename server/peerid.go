package server

import (
	"context"
	"crypto/x509"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"

	raftv1 "github.com/runnel-broker/runnel/gen/runnel/raft/v1"
	"github.com/runnel-broker/runnel/server/internal/errs"
)

// Where the brokers verify each other's certificates (a peer CA), a
// broker's is bound to its node id through its peer address: a caller
// that names itself node N (a raft stream) must present a certificate
// valid for the host of N's peer address as this broker knows it (its
// --peers, or the cluster's registry), and one that joins as N at an
// address, one valid for that address. So a broker, or anyone holding a
// certificate of the peer CA, cannot speak as another broker.

// verifiedPeerCertificate is the leaf certificate the TLS handshake of
// ctx's call verified (nil if none).
func verifiedPeerCertificate(ctx context.Context) *x509.Certificate {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.PeerCertificates) == 0 {
		return nil
	}
	return info.State.PeerCertificates[0]
}

// checkPeerAt refuses ctx's caller, claiming to be node id at peer
// address addr, unless its certificate is valid for addr's host. Without
// a peer CA it checks nothing: certificates say nothing of who a peer is.
func (s *Server) checkPeerAt(ctx context.Context, id int32, addr string) error {
	if s.tls == nil || s.tls.peerCAs == nil {
		return nil
	}
	cert := verifiedPeerCertificate(ctx)
	if cert == nil {
		return toStatus(errs.Newf(errNotABroker, "a caller claiming to be broker %d presented no verified certificate", id))
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if err := cert.VerifyHostname(host); err != nil {
		return toStatus(errs.Newf(errNotABroker, "a caller claiming to be broker %d presented a certificate (%q) that is not valid for its peer address %s: %v",
			id, cert.Subject.CommonName, addr, err))
	}
	return nil
}

// checkPeer is checkPeerAt at node id's peer address, as this broker
// knows it.
func (s *Server) checkPeer(ctx context.Context, id int32) error {
	if s.tls == nil || s.tls.peerCAs == nil {
		return nil
	}
	m, ok := s.broker.Member(id)
	if !ok || m.PeerAddress == "" {
		return toStatus(errs.Newf(errNotABroker, "broker %d is not one this broker knows", id))
	}
	return s.checkPeerAt(ctx, id, m.PeerAddress)
}

// checkMember refuses ctx's caller on the peer listener unless its
// certificate is valid for the peer address of a broker of the cluster:
// a client's certificate from the same CA (--tls-peer-ca defaults to
// --tls-client-ca) cannot forward calls past the ACLs. Without a peer CA
// it checks nothing.
func (s *Server) checkMember(ctx context.Context) error {
	if s.tls == nil || s.tls.peerCAs == nil {
		return nil
	}
	cert := verifiedPeerCertificate(ctx)
	if cert == nil {
		return toStatus(errs.Newf(errNotABroker, "the peer listener takes brokers only, and the caller presented no verified certificate"))
	}
	for _, m := range s.broker.Members() {
		host, _, err := net.SplitHostPort(m.PeerAddress)
		if err == nil && cert.VerifyHostname(host) == nil {
			return nil
		}
	}
	return toStatus(errs.Newf(errNotABroker,
		"the caller's certificate (%q) is valid for no broker's peer address: this is the brokers' peer listener, clients call the client listener (--listen)",
		cert.Subject.CommonName))
}

// membersOnly are the peer listener's interceptors that run checkMember
// on every call but Join, whose caller is no member yet (its handler
// checks the address it joins at).
func (s *Server) membersOnlyUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod != raftv1.MembershipService_Join_FullMethodName && info.FullMethod != raftv1.MembershipService_Identify_FullMethodName {
		if err := s.checkMember(ctx); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func (s *Server) membersOnlyStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.checkMember(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}
