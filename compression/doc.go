// Package compression holds the codecs a batch of records may be
// compressed with, numbered as Kafka's (and as runnel.v1.Compression):
// gzip, snappy (the raw block format), lz4 (the frame format) and zstd,
// from klauspost/compress and pierrec/lz4. The broker and the Go SDK share
// it, so a batch the SDK compresses is the batch the broker stores and
// another SDK decompresses.
//
// Decompress takes a limit on the size it produces: a batch declares what
// it holds, and a forged one (a decompression bomb, say) fails with
// ErrTooLarge rather than take the memory it asks for; a zstd frame's
// window is bounded too. Snappy is decoded by Google's strict decoder, so
// that an S2 block (which s2, the encoder here, can also read) is refused
// as it would be by the other languages' snappy.
package compression
