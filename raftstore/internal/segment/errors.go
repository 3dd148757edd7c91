package segment

import (
	"errors"

	"go.etcd.io/raft/v3"
)

// ErrCompacted is returned by Term, Entries and EntryOffsets when the
// requested index precedes the log start (it was deleted by retention or
// replaced by a snapshot). It is raft.ErrCompacted, so a raft.Storage built
// on this package can return it unchanged: raft then sends a snapshot.
var ErrCompacted = raft.ErrCompacted

// ErrUnavailable is returned by Term, Entries and EntryOffsets when the
// requested index is beyond LastIndex. It is raft.ErrUnavailable: the entry
// does not exist yet and the caller must wait for it to be appended.
var ErrUnavailable = raft.ErrUnavailable

// ErrOffsetOutOfRange is returned by Read when the offset is below
// StartOffset (deleted by retention) or above NextOffset (never written).
// The caller reports it to the client, who resets its position.
var ErrOffsetOutOfRange = errors.New("segment: offset out of range")

// ErrCorrupt is returned, wrapped with the file name and position, when a
// frame fails its CRC or its framing (by Open for damage to the synced part
// of the active segment or anywhere in a sealed one, and by the read methods for
// damaged older data), and by DecodeBatchHeader for a malformed batch. Data
// is never repaired silently: the caller must stop serving the partition
// and restore it from a replica.
var ErrCorrupt = errors.New("segment: corrupt data")

// ErrClosed is returned by every method called after Close; the owner maps
// it to its own "closed" error (a partition deleted or shutting down).
var ErrClosed = errors.New("segment: log closed")

// Reasons a frame fails to decode; wrapped in ErrCorrupt by the caller.
// Recovery tells an unsynced tail from corruption by where the bad frame
// lies: before or after the synced mark (see doc.go).
var (
	errFrameShort    = errors.New("frame runs past the end of the file")
	errFrameLength   = errors.New("frame length out of range")
	errFrameCRC      = errors.New("frame CRC mismatch")
	errOutOfSequence = errors.New("frame out of sequence")
)

// errZeroTail is scan's report that the rest of the file is zeros: the
// preallocated space after the last frame, not damage.
var errZeroTail = errors.New("segment: zero tail")
