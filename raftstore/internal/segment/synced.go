package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// The synced file records how far the log is known to be durable: a
// position in a segment such that the bytes before it were fdatasync'd and
// not changed since. Recovery holds the bytes before it to be intact, so
// damage there is corruption (ErrCorrupt), while damage after it is what a
// power cut does to unsynced writes, which are cut off. See doc.go.
//
// Two slots (each in its own 512-byte sector) alternate, so that a write
// torn by a crash spoils at most the slot it was writing:
//
//	offset size field
//	0      8    sequence number (the higher valid slot wins)
//	8      8    segment base (raft index)
//	16     8    position in that segment
//	24     4    CRC32C of the 24 bytes before
const (
	syncedFile     = "synced"
	syncedSlotSize = 512
	syncedSlotData = 8 + 8 + 8 + 4
)

// syncedPos is a position in the log: segment base, then byte position.
type syncedPos struct {
	base uint64
	pos  int64
}

func (p syncedPos) less(q syncedPos) bool {
	return p.base < q.base || (p.base == q.base && p.pos < q.pos)
}

// syncedMark is the open synced file.
//
// Invariant: whatever value of either slot a crash leaves valid is a true
// lower bound on the synced, unchanged bytes of the log. Raising the mark is
// therefore done lazily, by a write without fsync after the fdatasync that
// made the position durable (a stale value is still a true bound), and
// lowering it, before the log's synced bytes change, writes both slots and
// fsyncs (so that no stale higher value can come back).
type syncedMark struct {
	mu    sync.Mutex // guards the fields below and writes to f
	f     *os.File
	seq   uint64
	at    syncedPos // the last value written, durable or not
	epoch uint64    // counts lowerings, so that a Sync started before one cannot raise the mark past it
}

// openSyncedMark opens (creating if needed) the synced file of dir. ok is
// false when no valid slot was found: then nothing is known synced.
func openSyncedMark(dir string) (m *syncedMark, at syncedPos, ok, created bool, err error) {
	path := filepath.Join(dir, syncedFile)
	_, statErr := os.Stat(path)
	created = errors.Is(statErr, os.ErrNotExist)
	f, err := fsops.OpenFile(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, syncedPos{}, false, false, err
	}
	buf := make([]byte, 2*syncedSlotSize)
	n, err := f.ReadAt(buf, 0)
	if err != nil && n < len(buf) && !errors.Is(err, io.EOF) {
		return nil, syncedPos{}, false, false, errors.Join(err, f.Close())
	}
	m = &syncedMark{f: f}
	for k := range 2 {
		b := buf[k*syncedSlotSize:][:syncedSlotData]
		if crc32.Checksum(b[:24], castagnoli) != binary.BigEndian.Uint32(b[24:]) {
			continue
		}
		seq := binary.BigEndian.Uint64(b[0:8])
		if !ok || seq > m.seq {
			m.seq, ok = seq, true
			m.at = syncedPos{base: binary.BigEndian.Uint64(b[8:16]), pos: int64(binary.BigEndian.Uint64(b[16:24]))}
		}
	}
	return m, m.at, ok, created, nil
}

// writeSlot writes p with the next sequence number into its slot (under mu).
func (m *syncedMark) writeSlot(p syncedPos) error {
	m.seq++
	var b [syncedSlotData]byte
	binary.BigEndian.PutUint64(b[0:8], m.seq)
	binary.BigEndian.PutUint64(b[8:16], p.base)
	binary.BigEndian.PutUint64(b[16:24], uint64(p.pos))
	binary.BigEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
	if _, err := m.f.WriteAt(b[:], int64(m.seq%2)*syncedSlotSize); err != nil {
		return fmt.Errorf("segment: write %s: %w", syncedFile, err)
	}
	m.at = p
	return nil
}

// advance records p, which the caller has just made durable, if it is past
// the mark and no lowering happened since epoch was read. No fsync: see
// syncedMark.
func (m *syncedMark) advance(p syncedPos, epoch uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.epoch != epoch || !m.at.less(p) {
		return nil
	}
	return m.writeSlot(p)
}

// lower makes the mark durably at most p. The writer calls it before it
// changes bytes of the log before the mark (truncation, reset).
// NB: both slots, then fsync: the slot not written could otherwise come
// back from an older fsync with a value past p.
func (m *syncedMark) lower(p syncedPos) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// NB: even when the mark is already at or below p: a Sync that read the
	// epoch before the change may be about to advance it past p.
	m.epoch++
	if !p.less(m.at) {
		return nil
	}
	if err := errors.Join(m.writeSlot(p), m.writeSlot(p)); err != nil {
		return err
	}
	return fsops.Fsync(m.f)
}

// currentEpoch is read by Sync before it syncs anything.
func (m *syncedMark) currentEpoch() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.epoch
}

// close closes the file, first making the mark durable with flush (clean
// shutdown, so that the next Open checks every synced byte).
func (m *syncedMark) close(flush bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var err error
	if flush {
		err = fsops.Fsync(m.f)
	}
	return errors.Join(err, m.f.Close())
}
