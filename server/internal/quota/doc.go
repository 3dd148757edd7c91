// Package quota accounts for what each principal does per second and says
// how long to throttle it, as Kafka's client quotas do: a principal over
// one of its rates (bytes produced, bytes consumed, requests) has its
// responses delayed until it is back under, rather than failed.
//
// Each (principal, kind) has a token bucket of its rate, holding at most
// Burst of it, that may go into debt: a request takes what it costs at
// once, and when that leaves the bucket short, the throttle is the time
// the rate takes to pay the debt back. A caller that waits that long
// before its next request (Kafka mutes the connection) is held to the
// rate: over any span of t seconds that starts with the bucket full, what
// it had answered is at most rate*t + rate*Burst. A request whose
// throttle would exceed the limiter's cap takes nothing and fails with
// ErrExceeded: many streams of one principal, or one request larger than
// the cap's worth of the rate.
//
// A principal's rate of a kind is its own quota's, if that sets it, else
// the default quota's, else none: Kafka resolves each quota type apart.
// The package is pure: its clock is injected, and it knows nothing of
// gRPC or of where quotas are stored (the catalog's metadata records).
package quota
