// Package records owns how records are encoded, on the wire and on disk,
// so that the broker moves the bytes a producer sent without decoding and
// re-encoding them.
//
// A record is a runnel.v1.Record in protobuf wire format. Parse scans one
// without allocating, for what the broker needs: its key (partitioning),
// its timestamp, and that it is well formed.
//
// The payload of a stored batch is a sequence of
//
//	uvarint length | runnel.v1.Record bytes as the producer sent them
//
// with one addition: a record the producer sent without a timestamp, or
// any record of a topic with message.timestamp.type=LogAppendTime, gets
// the broker's, appended as a timestamp field with both its seconds and
// nanos written, so that it replaces the producer's (protobuf merges a field
// appended to a message). Offsets are never stored per record: a record's
// offset is the batch's base offset plus its position.
//
// AppendSubscribeResponse builds a runnel.v1.SubscribeResponse straight
// from stored payloads, appending each record's offset field the same
// way, so a catch-up read costs one copy.
package records
