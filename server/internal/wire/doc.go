// Package wire is the gRPC codec every Runnel connection uses, the
// server's and its calls to other brokers alike: protobuf, except for a
// Message, which is already encoded and goes as it is. The hot paths
// (subscribe responses built from stored batches, responses relayed from
// another broker, forwarded produce requests) so skip a decode and an
// encode that would cost more than everything else the broker does.
package wire
