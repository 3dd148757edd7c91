package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// Boundary describes the last entry before the log start, which raft needs
// as its snapshot metadata.
type Boundary struct {
	Index, Term uint64
	NextOffset  int64 // the log start offset: the offset of the entry at Index+1
}

const (
	boundaryFile = "boundary"
	boundarySize = 8 + 8 + 8 + 4
)

// readBoundary reads the boundary file; ok is false when there is none.
func readBoundary(dir string) (b Boundary, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, boundaryFile))
	if errors.Is(err, os.ErrNotExist) {
		return Boundary{}, false, nil
	}
	if err != nil {
		return Boundary{}, false, err
	}
	if len(data) != boundarySize || crc32.Checksum(data[:24], castagnoli) != binary.BigEndian.Uint32(data[24:]) {
		return Boundary{}, false, fmt.Errorf("%w: %s: bad size or CRC", ErrCorrupt, boundaryFile)
	}
	b = Boundary{
		Index:      binary.BigEndian.Uint64(data[0:8]),
		Term:       binary.BigEndian.Uint64(data[8:16]),
		NextOffset: int64(binary.BigEndian.Uint64(data[16:24])),
	}
	return b, true, nil
}

// writeBoundary replaces the boundary file atomically and durably: write a
// temp file, fsync, rename, fsync the directory.
func writeBoundary(dir string, b Boundary) error {
	data := make([]byte, boundarySize)
	binary.BigEndian.PutUint64(data[0:8], b.Index)
	binary.BigEndian.PutUint64(data[8:16], b.Term)
	binary.BigEndian.PutUint64(data[16:24], uint64(b.NextOffset))
	binary.BigEndian.PutUint32(data[24:], crc32.Checksum(data[:24], castagnoli))
	tmp := filepath.Join(dir, boundaryFile+".tmp")
	f, err := fsops.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, fsops.Fsync(f), f.Close()); err != nil {
		return fmt.Errorf("segment: write boundary: %w", err)
	}
	if err := fsops.Rename(tmp, filepath.Join(dir, boundaryFile)); err != nil {
		return fmt.Errorf("segment: write boundary: %w", err)
	}
	return fsops.SyncDir(dir)
}

// DeleteBefore deletes the whole segments all of whose entries have an index
// below index (the caller passes only committed indexes), never the active
// one, and returns the new boundary and the number of segments deleted.
func (l *Log) DeleteBefore(index uint64) (Boundary, int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return Boundary{}, 0, ErrClosed
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].lastIndex < index {
		n++
	}
	if n == 0 {
		return l.boundary, 0, nil
	}
	b := l.boundary
	if first := l.segs[n]; first.base-1 > b.Index {
		b = Boundary{Index: first.base - 1, Term: l.segs[n-1].lastTerm, NextOffset: first.baseOffset}
	}
	if err := l.dropHead(n, b); err != nil {
		return Boundary{}, 0, err
	}
	return b, n, nil
}

// dropHead records the boundary b and deletes the first n segments.
// NB: the boundary is made durable first: a crash before the deletions
// leaves files that Open deletes, never a log whose start is unknown.
func (l *Log) dropHead(n int, b Boundary) error {
	if b != l.boundary {
		if err := writeBoundary(l.dir, b); err != nil {
			return err
		}
	}
	doomed := l.segs[:n]
	l.mu.Lock()
	l.segs = l.segs[n:]
	l.boundary = b
	l.mu.Unlock()
	// Oldest first, so that a crash leaves a contiguous log.
	for _, s := range doomed {
		if err := s.remove(l.dir); err != nil {
			return fmt.Errorf("segment: delete %s: %w", s.name(), err)
		}
	}
	return nil
}

// SetBoundary moves the log start to b.Index+1: the owner calls it on open
// when its own state says the log starts later than what is on disk, and a
// follower when it installs a snapshot. When the log holds b.Index with term
// b.Term and b.NextOffset as the next entry's offset, the segments entirely
// before b.Index+1 are deleted and the rest kept. Otherwise (the log is
// empty, ends at or before b.Index, or disagrees with b) it is reset to start
// empty at b.Index+1 with next offset b.NextOffset. A boundary older than
// the current one changes nothing.
func (l *Log) SetBoundary(b Boundary) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if b.Index < l.boundary.Index || b == l.boundary {
		return nil
	}
	keep, err := l.agrees(b)
	if err != nil {
		return err
	}
	if !keep {
		return l.resetTo(b)
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].lastIndex <= b.Index {
		n++
	}
	return l.dropHead(n, b)
}

// agrees reports whether the log holds b.Index with term b.Term, followed by
// an entry stamped with offset b.NextOffset.
func (l *Log) agrees(b Boundary) (bool, error) {
	if b.Index < l.boundary.Index || b.Index >= l.lastIndex() {
		return false, nil
	}
	term := l.boundary.Term
	if b.Index > l.boundary.Index {
		f, _, err := l.frameFor(b.Index, false /* batch */)
		if err != nil {
			return false, err
		}
		term = f.term
	}
	f, _, err := l.frameFor(b.Index+1, false /* batch */)
	if err != nil {
		return false, err
	}
	return term == b.Term && f.baseOffset == b.NextOffset, nil
}

// resetTo deletes every segment and starts an empty log after b.
func (l *Log) resetTo(b Boundary) error {
	// NB: every segment goes, so first the mark (which may name any of them,
	// or one whose name the new segment takes) says nothing.
	if err := l.mark.lower(syncedPos{}); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// NB: newest first, each deletion durable before the next, so that a
	// crash leaves a prefix of the old log, never one with a gap; and the
	// segments after b.Index go before the new boundary is recorded, so that
	// no crash leaves it followed by old entries: recovery could not tell
	// those from the log after b once the segment holding b.Index (whose term
	// shows the disagreement) is gone. Dropping them first is safe: they
	// conflict with b (or the log would agree with it), so they were never
	// committed, as with a truncation.
	drop := func(keep func(*segment) bool) error {
		for n := len(l.segs); n > 0 && !keep(l.segs[n-1]); n-- {
			if err := errors.Join(l.segs[n-1].remove(l.dir), fsops.SyncDir(l.dir)); err != nil {
				return fmt.Errorf("segment: reset: %w", err)
			}
			l.segs = l.segs[:n-1]
		}
		return nil
	}
	if err := drop(func(s *segment) bool { return s.base <= b.Index }); err != nil {
		return err
	}
	if err := writeBoundary(l.dir, b); err != nil {
		return err
	}
	if err := drop(func(*segment) bool { return false }); err != nil {
		return err
	}
	s, err := createSegment(l.dir, b.Index+1, b.NextOffset, b.Term, l.opts)
	if err != nil {
		return fmt.Errorf("segment: reset: %w", err)
	}
	l.segs, l.boundary = []*segment{s}, b
	return fsops.SyncDir(l.dir)
}
