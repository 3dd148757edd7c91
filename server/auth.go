package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/internal/tlsfiles"
	"github.com/runnel-broker/runnel/server/internal/authz"
	"github.com/runnel-broker/runnel/server/internal/broker"
	"github.com/runnel-broker/runnel/server/internal/certname"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/jwks"
	"github.com/runnel-broker/runnel/server/internal/tokens"
)

// Anonymous is the principal of a client that presents no credentials,
// where the broker lets it in (see Config.AllowAnonymous).
const Anonymous = "User:ANONYMOUS"

var (
	// errUnauthenticated: a client without credentials the broker takes.
	errUnauthenticated = errors.New("unauthenticated")
	// errPermissionDenied: the ACLs do not allow the request.
	errPermissionDenied = errors.New("permission denied")
	// errTooManyStreams: a principal at its limit of streams.
	errTooManyStreams = errors.New("too many streams")
)

// guard authenticates the client listener's calls (a bearer token from
// the token file, or anonymous) and, with Config.Authorization,
// authorizes each against the cluster's ACLs. Calls forwarded by another
// broker come in on the peer listener, already authorized where the
// client called.
type guard struct {
	tokens         *tokens.Set    // nil: no token file
	jwts           *jwks.Verifier // nil: no JWKS file
	allowAnonymous bool
	enforce        bool
	superusers     []string
	broker         *broker.Broker
	logger         *slog.Logger
	// authorizer is the last one built, with the ACLs' version it has.
	authorizer atomic.Pointer[versionedAuthorizer]
	denied     *prometheus.CounterVec
	// certNames names a client certificate's principal
	// (Config.TLSPrincipal, Config.TLSPrincipalRules).
	certNames *certname.Mapper
	// maxStreams bounds each principal's streams open (0: no bound).
	maxStreams int
	streams    streamCounts
	// lastLog and unlogged rate-limit the denials' log to one a second.
	lastLog  atomic.Int64
	unlogged atomic.Int64
}

type versionedAuthorizer struct {
	*authz.Authorizer
	version uint64
}

func newGuard(cfg Config) (*guard, error) {
	g := &guard{allowAnonymous: cfg.AllowAnonymous || (cfg.TokenFile == "" && cfg.JWKSFile == "" && cfg.JWKSURL == ""), enforce: cfg.Authorization,
		superusers: cfg.Superusers, logger: cfg.Logger, maxStreams: cfg.MaxStreamsPerPrincipal,
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_authorization_denied_total",
			Help: "Requests the ACLs denied, by operation and resource type."}, []string{"operation", "resource_type"})}
	if cfg.TokenFile != "" {
		set, err := tokens.Load(cfg.TokenFile, cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		g.tokens = set
	}
	if cfg.JWKSFile != "" || cfg.JWKSURL != "" {
		v, err := newJWTVerifier(cfg)
		if err != nil {
			return nil, err
		}
		g.jwts = v
	}
	rules, err := certname.ParseRules(cfg.TLSPrincipalRules)
	if err != nil {
		return nil, fmt.Errorf("--tls-principal-rules: %w", err)
	}
	if g.certNames, err = certname.New(cmp.Or(cfg.TLSPrincipal, "cn"), rules); err != nil {
		return nil, fmt.Errorf("--tls-principal %w", err)
	}
	for _, s := range cfg.Superusers {
		if s == "" || s == authz.Wildcard {
			return nil, fmt.Errorf("--superusers: %q is not a principal: name each one (User:admin)", s)
		}
	}
	return g, nil
}

// newJWTVerifier verifies JWTs against Config's key set, from its file
// or its URL.
func newJWTVerifier(cfg Config) (*jwks.Verifier, error) {
	jc := jwks.Config{File: cfg.JWKSFile, URL: cfg.JWKSURL, Refresh: cfg.JWKSRefresh,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Claim: cfg.JWTPrincipalClaim, Logger: cfg.Logger}
	flag := "--jwt-jwks-file"
	if cfg.JWKSURL != "" {
		flag = "--jwt-jwks-url"
		var roots *tlsfiles.CAs
		if cfg.JWKSCAFile != "" {
			var err error
			if roots, err = tlsfiles.LoadCAs(cfg.JWKSCAFile, cfg.Logger); err != nil {
				return nil, fmt.Errorf("--jwt-jwks-ca: %w", err)
			}
		}
		jc.Client = &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tlsfiles.ClientConfig(roots, nil, "")}}
	}
	v, err := jwks.New(jc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return v, nil
}

type principalKey struct{}

// principalOf is the principal the guard authenticated ctx's call as.
func principalOf(ctx context.Context) string {
	if p, ok := ctx.Value(principalKey{}).(string); ok {
		return p
	}
	return Anonymous
}

// authenticate is the auth interceptor's function: the call's principal,
// from its bearer token (the token file's, or a JWT), else from its
// verified client certificate (User: and what certNames makes of it;
// with --tls-client-ca), else anonymous.
func (g *guard) authenticate(ctx context.Context) (context.Context, error) {
	if token, err := auth.AuthFromMD(ctx, "bearer"); err == nil {
		p, err := g.bearer(token)
		if err != nil {
			return nil, toStatus(err)
		}
		return context.WithValue(ctx, principalKey{}, p), nil
	}
	if cert := verifiedPeerCertificate(ctx); cert != nil {
		name, err := g.certNames.Name(cert)
		if err != nil {
			return nil, toStatus(errs.Newf(errUnauthenticated, "%v (--tls-principal, --tls-principal-rules)", err))
		}
		return context.WithValue(ctx, principalKey{}, "User:"+name), nil
	}
	if !g.allowAnonymous {
		return nil, toStatus(errs.Newf(errUnauthenticated,
			"this broker takes authenticated calls only: send gRPC metadata \"authorization: Bearer TOKEN\" (runnel --token, an SDK's token option)"))
	}
	return context.WithValue(ctx, principalKey{}, Anonymous), nil
}

// authorize says whether ctx's principal may do op on r: nil, or
// errPermissionDenied naming them.
func (g *guard) authorize(ctx context.Context, op authz.Operation, r authz.Resource) error {
	if !g.enforce || forwardedCall(ctx) {
		return nil
	}
	p := principalOf(ctx)
	d := g.current().Authorize(p, op, r)
	if d.Allowed {
		return nil
	}
	g.denied.WithLabelValues(op.String(), r.Type.String()).Inc()
	err := errs.Newf(errPermissionDenied, "principal %q is not allowed to %s on %s: %s", p, op, r, d.Reason)
	g.logDenial(err)
	return err
}

// allowed is authorize as a yes or no, for filtering lists.
func (g *guard) allowed(ctx context.Context, op authz.Operation, r authz.Resource) bool {
	if !g.enforce || forwardedCall(ctx) {
		return true
	}
	return g.current().Authorize(principalOf(ctx), op, r).Allowed
}

// current is an authorizer of the ACLs the broker has now.
func (g *guard) current() *authz.Authorizer {
	if z := g.authorizer.Load(); z != nil && z.version == g.broker.ACLVersion() {
		return z.Authorizer
	}
	acls, version := g.broker.ACLs()
	z := &versionedAuthorizer{Authorizer: authz.New(acls, g.superusers), version: version}
	g.authorizer.Store(z)
	return z.Authorizer
}

// logDenial logs a denial, at most one a second, saying how many it did
// not log since the last.
func (g *guard) logDenial(err error) {
	now := time.Now().UnixNano()
	last := g.lastLog.Load()
	if now-last < int64(time.Second) || !g.lastLog.CompareAndSwap(last, now) {
		g.unlogged.Add(1)
		return
	}
	g.logger.Warn("request denied", "err", err, "denials_not_logged", g.unlogged.Swap(0))
}

// bearer is the principal a bearer token authenticates: a JWT the JWKS
// verifies, or a token of the token file.
func (g *guard) bearer(token string) (string, error) {
	if g.tokens == nil && g.jwts == nil {
		return "", errs.Newf(errUnauthenticated, "the call carries a bearer token, and this broker takes none (it has no --token-file, --jwt-jwks-file or --jwt-jwks-url)")
	}
	if g.tokens != nil {
		if p, ok := g.tokens.Principal(token); ok {
			return p, nil
		}
	}
	if g.jwts != nil && jwks.IsJWT(token) {
		p, err := g.jwts.Principal(token)
		if err != nil {
			return "", errs.Newf(errUnauthenticated, "the bearer token is a JWT this broker does not take: %v", err)
		}
		return p, nil
	}
	return "", errs.Newf(errUnauthenticated, "the bearer token is not one this broker knows")
}

// need is what a request needs allowed: an operation on a resource.
type need struct {
	op authz.Operation
	r  authz.Resource
}

func onTopic(op authz.Operation, name string) need {
	return need{op, authz.Resource{Type: authz.Topic, Name: name}}
}
func onGroup(op authz.Operation, name string) need {
	return need{op, authz.Resource{Type: authz.Group, Name: name}}
}
func onCluster(op authz.Operation) need { return need{op, authz.Resource{Type: authz.Cluster}} }

// rule is, for one RPC, what its request needs. A nil rule: what an
// authenticated principal may call (DescribeCluster, InitProducer), or
// what the handler checks or filters itself (Produce, per request;
// ListTopics and ListGroups, which list what the principal may describe).
type rule func(req any) []need

// rules decides, for every RPC of the client API, what it needs; a test
// checks that none is missing.
var rules = map[string]rule{
	runnelv1.AdminService_CreateTopic_FullMethodName: func(r any) []need {
		return []need{onTopic(authz.Create, r.(*runnelv1.CreateTopicRequest).Name)}
	},
	runnelv1.AdminService_DeleteTopic_FullMethodName: func(r any) []need {
		return []need{onTopic(authz.Delete, r.(*runnelv1.DeleteTopicRequest).Name)}
	},
	runnelv1.AdminService_DescribeTopic_FullMethodName: func(r any) []need {
		return []need{onTopic(authz.Describe, r.(*runnelv1.DescribeTopicRequest).Name)}
	},
	runnelv1.AdminService_ListTopics_FullMethodName:        nil,
	runnelv1.AdminService_DescribeCluster_FullMethodName:   nil,
	runnelv1.AdminService_ReassignPartition_FullMethodName: func(any) []need { return []need{onCluster(authz.Alter)} },
	runnelv1.AdminService_RemoveBroker_FullMethodName:      func(any) []need { return []need{onCluster(authz.Alter)} },
	runnelv1.AdminService_ListGroups_FullMethodName:        nil,
	runnelv1.AdminService_DescribeGroup_FullMethodName: func(r any) []need {
		return []need{onGroup(authz.Describe, r.(*runnelv1.DescribeGroupRequest).Group)}
	},
	runnelv1.AdminService_DeleteGroup_FullMethodName: func(r any) []need {
		return []need{onGroup(authz.Delete, r.(*runnelv1.DeleteGroupRequest).Group)}
	},
	runnelv1.AdminService_ResetOffsets_FullMethodName: func(r any) []need {
		req := r.(*runnelv1.ResetOffsetsRequest)
		return []need{onGroup(authz.Alter, req.Group), onTopic(authz.Describe, req.Topic)}
	},
	runnelv1.AdminService_CreateAcls_FullMethodName:     func(any) []need { return []need{onCluster(authz.Alter)} },
	runnelv1.AdminService_ListAcls_FullMethodName:       func(any) []need { return []need{onCluster(authz.Describe)} },
	runnelv1.AdminService_DeleteAcls_FullMethodName:     func(any) []need { return []need{onCluster(authz.Alter)} },
	runnelv1.AdminService_SetQuota_FullMethodName:       func(any) []need { return []need{onCluster(authz.Alter)} },
	runnelv1.AdminService_ListQuotas_FullMethodName:     func(any) []need { return []need{onCluster(authz.Describe)} },
	runnelv1.AdminService_DeleteQuota_FullMethodName:    func(any) []need { return []need{onCluster(authz.Alter)} },
	runnelv1.ProduceService_Produce_FullMethodName:      nil,
	runnelv1.ProduceService_InitProducer_FullMethodName: nil,
	runnelv1.SubscribeService_Subscribe_FullMethodName: func(r any) []need {
		req := r.(*runnelv1.SubscribeRequest)
		var out []need
		for _, t := range append([]string{req.Topic}, req.Topics...) {
			if t != "" {
				out = append(out, onTopic(authz.Consume, t))
			}
		}
		if req.Group != "" {
			out = append(out, onGroup(authz.Consume, req.Group))
		}
		return out
	},
	runnelv1.CommitService_Commit_FullMethodName: func(r any) []need {
		req := r.(*runnelv1.CommitRequest)
		return []need{onGroup(authz.Commit, req.Group), onTopic(authz.Describe, req.Topic)}
	},
	runnelv1.CommitService_FetchCommitted_FullMethodName: func(r any) []need {
		req := r.(*runnelv1.FetchCommittedRequest)
		return []need{onGroup(authz.Describe, req.Group), onTopic(authz.Describe, req.Topic)}
	},
}

// check authorizes what req needs under method's rule.
func (g *guard) check(ctx context.Context, method string, req any) error {
	r, ok := rules[method]
	if !ok {
		return toStatus(errs.Newf(errPermissionDenied, "method %s has no authorization rule", method))
	}
	if r == nil {
		return nil
	}
	for _, n := range r(req) {
		if err := g.authorize(ctx, n.op, n.r); err != nil {
			return toStatus(err)
		}
	}
	return nil
}

// guarded says whether a method is authenticated: every one but health
// and reflection, which anyone may call.
func guarded(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName && !strings.HasPrefix(c.Service, "grpc.reflection.")
}

// interceptors are the guard's, for the client listener: authentication
// (go-grpc-middleware's auth, on every call selector lets through), then
// authorization by the rules.
func (g *guard) interceptors() (grpc.UnaryServerInterceptor, grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor, grpc.StreamServerInterceptor) {
	match := selector.MatchFunc(guarded)
	authUnary := selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(g.authenticate), match)
	authStream := selector.StreamServerInterceptor(auth.StreamServerInterceptor(g.authenticate), match)
	return authUnary, g.authorizeUnary, authStream, g.authorizeStream
}

func (g *guard) authorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !guarded(ctx, interceptors.NewServerCallMeta(info.FullMethod, nil, req)) {
		return handler(ctx, req)
	}
	if err := g.check(ctx, info.FullMethod, req); err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	switch r := resp.(type) {
	case *runnelv1.ListTopicsResponse:
		r.Topics = filter(r.Topics, func(t *runnelv1.Topic) bool {
			return g.allowed(ctx, authz.Describe, authz.Resource{Type: authz.Topic, Name: t.Name})
		})
	case *runnelv1.ListGroupsResponse:
		r.Groups = filter(r.Groups, func(l *runnelv1.GroupListing) bool {
			return g.allowed(ctx, authz.Describe, authz.Resource{Type: authz.Group, Name: l.Name})
		})
	}
	return resp, err
}

func filter[T any](s []T, keep func(T) bool) []T {
	out := s[:0]
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// authorizeStream checks a streaming call's first request (Subscribe has
// one; Produce's are checked one by one by its handler).
func (g *guard) authorizeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !guarded(ss.Context(), interceptors.NewServerCallMeta(info.FullMethod, nil, nil)) {
		return handler(srv, ss)
	}
	if _, ok := rules[info.FullMethod]; !ok {
		return g.check(ss.Context(), info.FullMethod, nil)
	}
	if g.maxStreams > 0 {
		p := principalOf(ss.Context())
		if !g.streams.take(p, g.maxStreams) {
			return toStatus(errs.Newf(errTooManyStreams,
				"principal %q has %d streams open on this broker, its limit (--max-streams-per-principal): close one, or share streams", p, g.maxStreams))
		}
		defer g.streams.give(p)
	}
	return handler(srv, &checkedStream{ServerStream: ss, g: g, method: info.FullMethod})
}

// streamCounts counts each principal's streams open.
type streamCounts struct {
	mu   sync.Mutex
	open map[string]int
}

// take counts one more stream of p, unless p has max open already.
func (c *streamCounts) take(p string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[p] >= max {
		return false
	}
	if c.open == nil {
		c.open = map[string]int{}
	}
	c.open[p]++
	return true
}

func (c *streamCounts) give(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[p]--; c.open[p] <= 0 {
		delete(c.open, p)
	}
}

// checkedStream authorizes the first request received on it.
type checkedStream struct {
	grpc.ServerStream
	g       *guard
	method  string
	checked bool
}

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.checked {
		return nil
	}
	s.checked = true
	return s.g.check(s.Context(), s.method, m)
}

// TokenLine is the line of a token file (Config.TokenFile) that makes
// token authenticate principal.
func TokenLine(principal, token string) string { return tokens.Line(principal, token) }
