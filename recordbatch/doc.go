// Package recordbatch is the format of a compressed batch of records,
// runnel.v1.CompressedRecords: each record as its length (an unsigned
// varint) and its runnel.v1.Record encoding, the whole compressed with
// one codec of package compression, record_count saying how many there
// are. The Go SDK makes such batches and reads them, the sidecar checks
// those it spools and trims those it relays; the broker reads the same
// bytes as it stores them (server/internal/records).
//
// A batch is decompressed to at most MaxDecompressedBytes, so that a
// forged one cannot take the memory it claims.
package recordbatch
