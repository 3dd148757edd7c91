// Package sidecar is Runnel's local agent: a process beside an
// application that serves it the broker's public gRPC API on localhost
// and never makes it wait for the cluster.
//
// # Produce
//
// A produce request is acknowledged once its records are fsync'd in the
// sidecar's spool (raftstore/spool: a segment log per partition, the code
// and the durability of a broker's partitions), partitioned as the broker
// would (partitioner's murmur2 over the cluster's partition counts, which
// the sidecar keeps and refreshes). A forwarder per partition then sends
// the spooled batches to the cluster in order as one idempotent producer,
// each batch with a sequence number that is a function of its place in
// the spool, so that a batch sent again after an upstream failure or a
// restart of the sidecar (kill -9 included) is acknowledged by the
// partition without being appended twice, and never overtakes an earlier
// one. While the cluster is unreachable or electing leaders the
// application keeps producing into the spool; when the spool is full,
// Produce answers RESOURCE_EXHAUSTED and takes nothing.
//
// A request that sets acks to ACKS_ALL (or ACKS_LEADER) is acknowledged
// only once the cluster acknowledged it, with the offsets it was given
// there: end to end, the cluster's durability. A request that leaves acks
// unset gets the sidecar's default (Config.EndToEnd false: the spool's):
// its ack carries base offset -1, the cluster offset being unknown yet,
// and it is only as safe as the sidecar's volume until forwarded.
//
// An application's idempotent producer (InitProducer, answered by the
// sidecar) is deduplicated by the spool, as a broker's partition would.
//
// # Everything else
//
// Commit and the admin calls are relayed to the cluster, to another
// upstream broker when one is unreachable. Subscribe is relayed too, and
// resumed when its upstream stream breaks (a broker dies or shuts down):
// on the next broker, from the offset after the last record the
// application was sent of each partition, a group member re-attaching
// with its member id, so that the application's stream sees neither a
// gap nor a record twice; it ends UNAVAILABLE only after 30 s without
// reaching any broker. The relay shows the
// sidecar as the cluster's only broker (DescribeCluster) and as the
// leader of every partition (DescribeTopic), so that an SDK that sends
// each partition's records to its leader sends them all to the sidecar.
// Health and reflection are served by the sidecar itself.
//
// # Observing it
//
// The HTTP listener serves /metrics (runnel_sidecar_*: spool bytes,
// records waiting, the oldest waiting record's age, forward rate,
// upstream errors), /healthz, and /status, the backlog per partition as
// JSON, which `runnel sidecar status` prints.
package sidecar
