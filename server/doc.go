// Package server is the Runnel broker's network edge: the gRPC services
// of runnel.v1 (produce, subscribe, commit, admin) plus health and
// reflection, the interceptor chain (panic recovery, slog request
// logging, Prometheus metrics), and the HTTP listener for /metrics and
// /healthz. The logic behind the services lives in server/internal/broker;
// this package validates the shape of requests, maps errors to gRPC status
// codes (in exactly one place, status.go) and streams, within the memory
// budget for streams (budget.go) and the per-connection gRPC limits
// (server.go).
package server
