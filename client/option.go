package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Option configures Dial and New.
type Option interface{ apply(*options) }

type options struct {
	creds          credentials.TransportCredentials // nil: plaintext
	dialOptions    []grpc.DialOption
	logger         *slog.Logger
	requestTimeout time.Duration
	metadataMaxAge time.Duration
}

func defaultOptions() options {
	return options{
		logger:         slog.New(slog.DiscardHandler),
		requestTimeout: 10 * time.Second,
		// NB: Kafka's metadata.max.age.ms: leaders move without a client
		// noticing only when no request fails, so a slow refresh suffices.
		metadataMaxAge: 5 * time.Minute,
	}
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithDialOptions adds gRPC dial options, applied after the defaults
// (plaintext or WithTLS's credentials, 64 MiB messages), so they can
// replace them. They apply to every broker the client connects to.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return optionFunc(func(o *options) { o.dialOptions = append(o.dialOptions, opts...) })
}

// WithLogger sets where the client logs what it does on its own:
// metadata refreshes, retries, reconnections. The default discards.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// WithRequestTimeout bounds each metadata call (DescribeCluster,
// DescribeTopic), New's wait for a broker to answer, and each produce
// request's wait for its ack; a produce request that times out is retried
// within the producer's delivery timeout. The default is 10s.
func WithRequestTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.requestTimeout = d
		}
	})
}

// WithMetadataMaxAge sets how old a topic's partitions and leaders may
// get before the client asks again even though nothing failed. Errors
// (NotLeader, UNAVAILABLE) refresh them at once regardless. The default is
// 5 minutes, as Kafka's metadata.max.age.ms.
func WithMetadataMaxAge(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.metadataMaxAge = d
		}
	})
}

// WithToken authenticates every call with a bearer token (a broker's
// --token-file lists its hash; runnel token create makes one): gRPC
// metadata "authorization: Bearer TOKEN". Over plaintext the token
// crosses the network in the clear: use TLS (WithTLS) beyond
// localhost.
func WithToken(token string) Option {
	return WithDialOptions(grpc.WithPerRPCCredentials(bearerToken(token)))
}

// bearerToken is per-call credentials carrying a bearer token.
type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity is false: a broker on localhost (or a
// sidecar) may be plaintext; WithToken's doc says what that costs.
func (bearerToken) RequireTransportSecurity() bool { return false }

// WithTLS connects to every broker over TLS configured by cfg, as a
// broker serving with --tls-cert expects:
//
//   - cfg.RootCAs are the CAs the brokers' certificates are verified
//     against (nil: the system's roots);
//   - cfg.Certificates, or cfg.GetClientCertificate (which may reload
//     a rotated certificate), is the client certificate, for a broker
//     that requires one (--tls-client-ca);
//   - cfg.ServerName, when set, is the name every broker's certificate
//     must hold, instead of the host of the address dialled (the
//     bootstrap addresses, then the addresses the cluster advertises).
//
// A nil cfg is TLS trusting the system's roots. The config is cloned;
// gRPC adds the h2 protocol it needs. Without WithTLS the client speaks
// plaintext, which a TLS broker refuses (UNAVAILABLE).
//
//	c, err := client.New(ctx, []string{"broker-1:7400"}, client.WithTLS(&tls.Config{RootCAs: pool}))
func WithTLS(cfg *tls.Config) Option {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	creds := credentials.NewTLS(cfg)
	return optionFunc(func(o *options) { o.creds = creds })
}
