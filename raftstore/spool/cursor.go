package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

const (
	cursorFile     = "cursor"
	cursorSlotSize = 512
	// seq, offset, index, epoch, epoch base, the pending count and
	// ends, then the CRC32C.
	cursorSlotData = 8 + 8 + 8 + 4 + 8 + 1 + 8*Window
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Cursor is where a queue's forwarding stands.
type Cursor struct {
	// Offset is the first offset the cluster has not acknowledged;
	// Index is its batch's raft index in the queue's log (the first
	// segment entry not forwarded).
	Offset int64
	Index  uint64
	// Epoch is the upstream producer epoch of the queue, and EpochBase
	// the queue offset whose batch is sequence 0 in it.
	Epoch     int32
	EpochBase int64
	// pending are the ends of the groups of batches sent past Offset and
	// not acknowledged, in order: after a crash they are sent again as
	// they were, so that the partition recognizes each.
	pending  [Window]int64
	npending uint8
}

// Pending returns the ends of the groups sent past c.Offset, not yet
// acknowledged.
func (c Cursor) Pending() []int64 { return c.pending[:c.npending] }

// WithPending returns c recording ends (at most Window) as pending.
func (c Cursor) WithPending(ends []int64) Cursor {
	if len(ends) > Window {
		panic("spool: more than Window groups pending")
	}
	c.pending = [Window]int64{}
	c.npending = uint8(copy(c.pending[:], ends))
	return c
}

// cursorFileHandle is a queue's open cursor file. Not safe for concurrent
// use: the queue's forwarding calls it from one goroutine at a time.
type cursorFileHandle struct {
	f   *os.File
	seq uint64
}

// openCursor opens (creating) dir's cursor file and returns the cursor it
// holds: the valid slot with the higher sequence number, or the zero
// Cursor when neither slot is valid (a new queue).
func openCursor(dir string) (*cursorFileHandle, Cursor, error) {
	path := filepath.Join(dir, cursorFile)
	f, err := fsops.OpenFile(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, Cursor{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Cursor{}, err
	}
	if fi.Size() < 2*cursorSlotSize {
		// NB: a new file is made durable once, at its full size, so that
		// a slot's write never changes the file's length. A shorter one
		// is a creation a crash cut before that sync: no slot was
		// written yet, and it is made anew.
		err := f.Truncate(2 * cursorSlotSize)
		if err == nil {
			err = fsops.Fsync(f)
		}
		if err == nil {
			err = fsops.SyncDir(dir)
		}
		if err != nil {
			f.Close()
			return nil, Cursor{}, fmt.Errorf("spool: create %s: %w", path, err)
		}
	}
	buf := make([]byte, 2*cursorSlotSize)
	if _, err := io.ReadFull(f, buf); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		f.Close()
		return nil, Cursor{}, fmt.Errorf("spool: read %s: %w", path, err)
	}
	h := &cursorFileHandle{f: f}
	var c Cursor
	for slot := range 2 {
		seq, sc, ok := decodeCursorSlot(buf[slot*cursorSlotSize : slot*cursorSlotSize+cursorSlotData+4])
		if ok && seq > h.seq {
			h.seq, c = seq, sc
		}
	}
	return h, c, nil
}

func decodeCursorSlot(b []byte) (seq uint64, c Cursor, ok bool) {
	if binary.BigEndian.Uint32(b[cursorSlotData:]) != crc32.Checksum(b[:cursorSlotData], castagnoli) {
		return 0, Cursor{}, false
	}
	seq = binary.BigEndian.Uint64(b)
	c = Cursor{
		Offset:    int64(binary.BigEndian.Uint64(b[8:])),
		Index:     binary.BigEndian.Uint64(b[16:]),
		Epoch:     int32(binary.BigEndian.Uint32(b[24:])),
		EpochBase: int64(binary.BigEndian.Uint64(b[28:])),
		npending:  min(b[36], Window),
	}
	for i := range c.npending {
		c.pending[i] = int64(binary.BigEndian.Uint64(b[37+8*int(i):]))
	}
	return seq, c, seq > 0
}

// write makes c durable in the slot not holding the newest value.
func (h *cursorFileHandle) write(c Cursor) error {
	var b [cursorSlotData + 4]byte
	seq := h.seq + 1
	binary.BigEndian.PutUint64(b[0:], seq)
	binary.BigEndian.PutUint64(b[8:], uint64(c.Offset))
	binary.BigEndian.PutUint64(b[16:], c.Index)
	binary.BigEndian.PutUint32(b[24:], uint32(c.Epoch))
	binary.BigEndian.PutUint64(b[28:], uint64(c.EpochBase))
	b[36] = c.npending
	for i, end := range c.Pending() {
		binary.BigEndian.PutUint64(b[37+8*i:], uint64(end))
	}
	binary.BigEndian.PutUint32(b[cursorSlotData:], crc32.Checksum(b[:cursorSlotData], castagnoli))
	if _, err := h.f.WriteAt(b[:], int64(seq%2)*cursorSlotSize); err != nil {
		return fmt.Errorf("spool: write cursor: %w", err)
	}
	if err := fsops.Fdatasync(h.f); err != nil {
		return fmt.Errorf("spool: sync cursor: %w", err)
	}
	h.seq = seq
	return nil
}

func (h *cursorFileHandle) close() error { return h.f.Close() }
