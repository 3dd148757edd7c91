// Package client is the Go SDK for Runnel.
//
// New connects to a cluster through any of its brokers and learns the
// rest: the brokers' addresses and, per topic, the partitions and their
// leaders, refreshed when a request says they moved and when they are
// older than WithMetadataMaxAge. The generated runnel.v1 stubs (Admin,
// Produce, Subscribe, Commit) stay available on the Client for everything
// the SDK does not wrap yet; they call the bootstrap broker alone.
//
//	c, err := client.New(ctx, []string{"10.0.0.1:7400", "10.0.0.2:7400"})
//	if err != nil { ... }
//	defer c.Close()
//
// A Producer batches records per partition and sends each batch to the
// partition's leader:
//
//	p := c.Producer()                   // linger 5ms, 1 MiB batches, 64 MiB buffer
//	defer p.Close()                     // flushes
//	p.Produce(ctx, rec, onAck)          // async: onAck(Ack, error) is called once
//	res := p.ProduceAsync(ctx, rec)     // async: a Result to Wait on
//	ack, err := p.ProduceSync(ctx, rec) // waits for the ack
//
// Keyed records go where the broker would put them (Kafka's murmur2, the
// partitioner package); keyless ones stick to one partition per batch, as
// Kafka's sticky partitioner; Record.Partition or WithPartitioner choose
// otherwise. Produce is named as franz-go's callback form is, with
// ProduceAsync and ProduceSync beside it, so that the three read as one
// family and the blocking one says so.
//
// A batch is retried on UNAVAILABLE, DEADLINE_EXCEEDED and
// RESOURCE_EXHAUSTED until the delivery timeout. The producer is
// idempotent: it numbers each partition's records, and the partition
// appends a retried batch once, whatever happened to the first attempt (a
// broken stream, an ack that timed out, a leader change). A partition's
// batches are never reordered: each partition has one batch in flight at a
// time. WithCompression compresses batches (gzip, snappy, lz4, zstd: the
// compression package), which the broker stores as sent.
//
// Admin (NewAdmin) manages topics and consumer groups, describes the
// cluster and moves partitions, as franz-go's kadm does for kgo: each call
// goes to the broker that answered last and fails over to the next known
// broker on UNAVAILABLE or no answer within the request timeout, and
// errors are the broker's gRPC status:
//
//	adm := client.NewAdmin(c)
//	t, err := adm.CreateTopic(ctx, "orders", 3, 0, nil)  // 3 partitions, default replication
//	g, err := adm.DescribeGroup(ctx, "billing")           // members, offsets, lag
//	_, err = adm.ResetOffsets(ctx, "billing", "orders", client.ResetToEarliest().DryRun())
//
// A Consumer reads, as a member of a consumer group whose partitions the
// brokers assign (WithGroup, WithTopics), or from partitions it names
// (WithAssignment):
//
//	k, err := c.Consumer(ctx, client.WithGroup("mailer"), client.WithTopics("signups"))
//	defer k.Close()                       // commits, and leaves the group
//	for rec, err := range k.Records(ctx) { // each partition in offset order
//		...                                // rec.Topic, *rec.Partition, rec.Offset
//	}
//	recs, err := k.Poll(ctx, 500)         // or in batches: what is ready, up to 500
//	k.Commit(ctx)                         // what Records returned
//	k.CommitRecords(ctx, rec)             // rec.Offset+1 in its partition
//	k.Seek("signups", 0, 42)              // SeekToEarliest, SeekToLatest, SeekToTime
//	k.Pause("signups", 1)                 // Resume
//
// Auto-commit (every 5s, WithAutoCommit) commits the records whose loop
// body returned, and so do a rebalance (after OnRevoked) and Close: at
// least once, each record committed only once the application is done
// with it. Reads that break restart by themselves, re-attaching a member
// to its group, without returning a record twice or skipping one. The
// consumer takes batches compressed as the producer compressed them, in
// every codec, and decompresses them itself. WithStopAtEnd reads to the end (each
// partition's high watermark when its read started) and ends Records
// there, as runnel consume without --follow does.
//
// The package depends only on the generated code (gen/), partitioner and
// compression, never on the server.
package client
