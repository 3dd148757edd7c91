package client

import "google.golang.org/grpc"

// Option configures Dial.
type Option interface{ apply(*options) }

type options struct {
	dialOptions []grpc.DialOption
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithDialOptions adds gRPC dial options, applied after the defaults
// (plaintext, 64 MiB messages), so they can replace them: pass
// grpc.WithTransportCredentials to use TLS.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return optionFunc(func(o *options) { o.dialOptions = append(o.dialOptions, opts...) })
}
