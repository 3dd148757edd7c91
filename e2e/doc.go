// Package e2e tests Runnel as its users run it: the runnel binary started
// as a real process on a real data directory, driven through gRPC, the
// runnel CLI and grpcurl, and killed with SIGKILL to prove that
// acknowledged records survive. TestMain builds the binaries once; run
// with RUNNEL_E2E_GROUP_CONSUMER set, the test binary is instead a
// consumer-group member process of TestConsumerGroups, driven by the
// generated stubs alone, which writes what it saw as JSON lines.
package e2e
