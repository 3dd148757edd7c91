// Package e2e tests Runnel as its users run it: the runnel binary started
// as a real process on a real data directory, driven through gRPC, the
// runnel CLI and grpcurl, and killed with SIGKILL to prove that
// acknowledged records survive. TestMain builds the binaries once.
package e2e
