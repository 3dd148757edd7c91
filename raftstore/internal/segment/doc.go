// Package segment stores the raft log of one partition, which is also the
// partition's data log: each raft entry is one frame on disk, and an entry
// that carries a record batch is served to consumers straight from it.
// Nothing is copied into a second log.
//
// # Files
//
// A partition directory holds:
//
//	%020d.log        frames, named by the raft index of the first one
//	%020d.index      offset index of that segment (mmap'd when in use)
//	%020d.timeindex  time index of that segment (mmap'd when in use)
//	boundary         the entry just before the log start (see below)
//	synced           how far the last segment is known synced (see below)
//
// The last segment is the active one; the others are sealed. Segments are
// contiguous in raft index and offset.
//
// The active segment's three files stay open and mapped. A sealed segment
// holds no descriptor and, unless a Cache has it mapped, no mapping: what
// the log needs of it without reading frames (base index, last index and
// term, base and next offset, max timestamp, size) is kept in memory. It is
// mapped again (open, mmap, close: a mapping outlives its descriptor) when a
// read needs its frames or indexes. A Cache, shared by the Logs given it
// (a raftstore passes one to all its partitions; Logs opened without one
// share a package default), keeps at most its limit of sealed segments
// mapped (default DefaultOpenSealedSegments, 512: at most 1,536 mappings),
// unmapping the least recently used one no reader holds; reads in flight
// may hold more. So a partition costs three descriptors and three mappings
// for its active segment, however many segments it has.
//
// # Frames
//
// All integers are big endian.
//
//	offset size field
//	0      4    L: bytes after the CRC field (the frame is 8+L bytes)
//	4      4    CRC32C (Castagnoli) of the L bytes that follow
//	8      8    raft index
//	16     8    raft term
//	24     1    entry type (raftpb.EntryType)
//	25     8    base offset
//	33     L-25 entry Data
//
// The base offset is a pure function of the log prefix: the previous entry's
// base offset plus its record count. Entries without records (conf changes,
// the leader's empty no-op) take no offset. Truncating an uncommitted suffix
// rewinds the next offset, so the new leader's entries are stamped afresh
// and committed offsets agree on every replica.
//
// # Batches
//
// A normal entry with non-empty Data carries a record batch:
//
//	offset size field
//	0      1    magic = 2 (format version)
//	1      4    record count
//	5      8    first timestamp (ms since the epoch)
//	13     8    max timestamp (ms since the epoch)
//	21     8    proposal id
//	29     2    attributes: bits 0-2 the payload's compression codec (0 none, 1 gzip,
//	            2 snappy, 3 lz4, 4 zstd); a reader refuses any other value
//	31     8    append time: the leader's clock when it took the batch (ms since the epoch)
//	39     8    producer id (0: not an idempotent producer's batch)
//	47     4    producer epoch
//	51     8    base sequence: the producer's sequence number of the first record
//	59     ...  payload, opaque to this package
//
// Version 1 ended at the proposal id (29 bytes); it is read with the later
// fields zero.
//
// # Indexes
//
// Both index files hold 24-byte entries. They are preallocated while their
// segment is active (capacity: one entry per IndexIntervalBytes of
// SegmentBytes, at least 4 KiB, at most 10 MiB; a segment whose index fills
// up rolls) and a raft index of 0 marks an unused slot, so the entry count is
// found by binary search for the first zero.
//
//	.index      raft index u64, base offset i64, file position u64
//	.timeindex  raft index u64, max timestamp i64, base offset i64
//
// The offset index gets an entry for the first frame of the segment and for
// every frame that starts at least IndexIntervalBytes after the previously
// indexed one. The time index gets an entry at the same frames when the
// segment's running max timestamp (over the batches up to and including the
// frame) has grown since its last entry: its timestamps increase strictly and
// an entry (i, ts) means no batch up to i has a max timestamp above ts. It
// records the running max rather than the frame's own batch max so that
// lookups are right even when timestamps go backwards, and so that a sealed
// segment's max timestamp is its last entry plus the frames after it.
//
// # Durability
//
// The fault model is a power cut: bytes written since a file's last
// fdatasync may be lost, zeroed or garbled in any pattern (a later block
// kept, an earlier one lost), and directory entries created, renamed or
// removed since the directory's last fsync may come back as they were.
// Synced bytes are intact.
//
// Appends use write() (pwrite) on the log file; reads use a read-only shared
// mapping of it (the active segment's mapping runs ahead of the file; bytes
// past the written size are never touched). Sync fdatasyncs every log file
// written since the last Sync, and the directory when segment files were
// created or deleted; only then is anything appended acknowledged. Rolling a
// segment seals it: the log is fdatasync'd and its indexes msync'd, truncated
// to their used size and fsync'd, all before the next segment's files are
// created. So every segment but the last is synced whole. Indexes are never
// synced on the append path: they are a cache, rebuilt from the log when
// missing or inconsistent, and every lookup checks that the entry it uses
// points at a frame with the same raft index and offset.
//
// The synced file records a position (segment base, byte position) before
// which the last segment is known synced and unchanged since. Two slots,
// each with a sequence number and a CRC32C, in separate 512-byte sectors,
// alternate, so a torn write spoils only the slot being written. Invariant:
// any slot a crash can leave valid holds a true bound. Sync keeps it so at
// the cost of one pwrite and no fsync: it writes the position it made
// durable after its fdatasyncs return, so the value is true before it can
// reach the disk; a power cut may lose it, which leaves an older, smaller,
// still true value. Only clean Close fsyncs it. The bytes before the mark
// change only by truncation, which lowers the mark first and durably (both
// slots, fsync). So the mark lags the acknowledged data by at most what the
// page cache had not yet written back: a power cut can make recovery trust
// less than was synced, never more.
//
// A truncation (raft replacing an uncommitted suffix) is made durable before
// it returns: the mark is lowered to the cut, each deleted segment's removal
// is fsync'd in the directory before an older one is removed (so no crash
// leaves a gap, nor a deleted segment after the new entries), and the cut
// file and its indexes are synced, so no crash can bring back a dropped
// frame beside the new ones written over it (an old frame followed by a new
// one would be a log that never existed). That costs a few fsyncs per
// truncation, which happens on leader changes, not on the append path.
//
// The active segment's file is preallocated (fallocate) ahead of its writes,
// up to the segment size, in steps that start at 64 KiB and double with each
// one the writes use up, to at most 16 MiB: appending into allocated
// blocks of a file whose length does not change lets fdatasync skip the
// metadata journal commit, five times the throughput of fsync'd appends on
// the dev machine. So the file of an open active segment is its frames
// followed by zeros. No frame has length 0, so a zero length where a frame
// would start, with only zeros after it, marks the end of the data. Sealing
// a segment and closing the log trim the file to its frames, and every
// truncation of the log cuts the file itself, so that the bytes after a cut
// read as zeros, never as stale frames.
//
// # Log start
//
// The boundary file holds the raft index, term and next offset of the entry
// just before the log start (index u64, term u64, next offset i64, CRC32C of
// the 24 bytes), which raft needs as snapshot metadata. It is replaced
// atomically (temp file, fsync, rename, fsync directory) by DeleteBefore and
// SetBoundary before they delete any segment before it. A SetBoundary that
// resets a disagreeing log first deletes, durably and newest first, the
// segments after the boundary index: a crash must not leave the new boundary
// followed by old entries whose disagreement recovery could no longer see.
// A new log has no file and the boundary {0, 0, 0}. After a snapshot the boundary may fall inside the first
// segment; the entries before it are then no longer part of the log.
//
// # Recovery
//
// Open deletes stray *.tmp files and indexes without a log, then segments
// that the boundary shows to be deleted already. Each sealed segment's
// indexes are trusted when their first and last entries match the log (else
// they are rebuilt by scanning the segment); its last index, next offset and
// max timestamp come from the last index entries plus the frames after them.
// A sealed segment was synced whole, so any bad frame in it is corruption.
// Recovery opens and maps each sealed segment for that and releases it
// before the next one: startup reads about IndexIntervalBytes per sealed
// segment, and holds no sealed segment's files once Open returns.
//
// The active segment is scanned from its last index entry that matches the
// log at or before the synced mark (entries past the mark may skip over
// garbage), checking every frame's CRC and sequence, up to the zeros of its
// preallocated space (a sealed segment found with such zeros, from a crash
// before its sealing trim, is trimmed). Its synced bound is the mark's
// position when the mark names it, 0 when the mark names an earlier segment
// or no slot is valid. A bad frame at or after the bound starts the unsynced
// tail: the file is cut there, whatever follows it (with a warning naming
// the file, position and bytes dropped), and index entries past it are
// dropped. A bad frame before the bound, data ending before it, or a mark
// naming a segment that is gone is damage to synced data: Open fails with
// ErrCorrupt naming the file and position and changes no log file (index
// files, being a cache, may have been trimmed). Recovery then fdatasyncs what
// it kept of the active segment (after a process crash the tail may be only
// in the page cache, and the owner treats every entry Open returns as
// stable) and records it in the mark.
//
// So after a power cut the log holds every entry a completed Sync covered
// and not truncated since, followed by a prefix, possibly empty, of the
// entries appended after it; and Open succeeds unless synced bytes are
// damaged. Startup reads only the tail of each segment: of the active one,
// from the mark (which a power cut can leave up to the page cache's
// writeback delay behind) to its end. Reads that meet a bad frame in older
// data return ErrCorrupt.
//
// # Golden files
//
// testdata/*.golden pin the formats above byte for byte: a batch header,
// a frame, a small log (a sealed segment's log and both its indexes, the
// active segment's log and the synced file, as a clean Close leaves them),
// a synced file and a boundary file. TestGolden* write each from fixed
// inputs and compare it with its golden file, then read the golden file
// back and check the values decoded. A failure there means the format
// changed: old directories would no longer read as they did. A deliberate
// change (a new batch magic, say) regenerates them with
//
//	go test ./raftstore/internal/segment/ -run Golden -update
//
// and the diff of testdata/ shows the change in review; a reader of the
// old format that must keep working keeps its old golden file. The files
// beside the log are pinned the same way, and updated with the same
// command in their package: raft.state (and one without its conf index,
// as older brokers wrote it), incarnation and rejoining in raftstore;
// cluster.id and the data directory's rejoining in server/internal/broker.
// (The flag is defined in those three packages only: name them rather
// than ./... when updating.)
//
// # Concurrency
//
// A Log has one writer (Append, DeleteBefore, SetBoundary, Close; Sync may
// run beside it) and any number of readers. Most readers copy what they
// return under a read lock, so the writer can unmap a segment it deletes or
// remaps once it holds the write lock.
//
// ReadFunc instead hands its callback payloads straight from the mappings,
// and the callback may be slow (a 16 MiB response encoded from cold pages),
// so it holds the read lock only to find where to start and to pin the log
// mapping of each segment it reaches: the walk over the frames, their CRC
// checks and the callback run unlocked, and appends, raft's Term and
// Entries and other readers do not wait for them. A mapping is reference
// counted: its owner (the active segment, or the Cache for a sealed one)
// holds one reference, each pin another, and the last to let go unmaps it.
// Remapping (growth, sealing, reactivation), eviction, deletion and Close
// drop only the owner's reference, so pinned bytes stay valid; deleted
// files stay readable through a mapping once unlinked. Those bytes are
// never rewritten either: the writer only writes past the published size,
// fallocates past it and cuts the file at it, except a truncation, which
// cuts uncommitted entries only (raft never truncates committed ones), and
// ReadFunc reads entries up to its maxIndex, the commit index, never
// touching the frame after it.
//
// A sealed segment's mappings belong to the Cache, which another Log's
// reader may evict at any time: it takes no lock of this Log, only
// Cache.mu. So a reader pins each sealed segment before it touches its
// mappings (a reference count under Cache.mu; a pinned segment is never
// unmapped) and unpins it once it has copied what it returns, still under
// the Log's read lock, or, for ReadFunc, once its callback has returned.
// The writer leaves the cache out only when it holds Log.mu: sealing hands
// the mappings to the cache, and reactivating (a truncation back into a
// sealed segment), deleting or closing takes them back. Only ReadFunc can
// hold them then: the cache forgets the segment at once (its indexes,
// which only lookups under Log.mu use, are unmapped) and the log mapping
// goes with ReadFunc's last pin.
//
// Lock order: Log.smu, Log.wmu, Log.mu, then Cache.mu or the synced mark's
// mutex. Cache.mu is innermost: nothing is locked while it is held, so
// eviction across Logs cannot deadlock. ReadFunc releases its holds with no
// Log lock; the last may munmap under Cache.mu or under none.
package segment
