// Package redial is how soon a Runnel gRPC client dials a broker again
// after losing it: the SDK, brokers' peer and raft connections, and the
// sidecar's upstream all share it.
//
// gRPC's default reconnect backoff grows to 120 s. While it waits, every
// call on the connection fails at once with UNAVAILABLE, so a consumer
// whose brokers were down for a few minutes would go on failing for up
// to two minutes after they came back. Kafka's clients wait at most a
// second (reconnect.backoff.max.ms); so does Runnel.
package redial
