package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftstorev1 "github.com/runnel-broker/runnel/gen/runnel/raftstore/v1"
)

// Snapshots of state machine partitions (the internal topics).
//
// A data partition's state is its log, so its raft snapshots are metadata
// only (storage.Snapshot). A state machine's state is what applying its log
// built, so without a snapshot of that state its log could never shrink and
// every open replayed it whole. With PartitionConfig.Snapshot and Restore
// set, the partition takes one every SnapshotEntries applied entries (or
// SnapshotBytes of them):
//
//  1. On the raft loop, right after applying (maybeSnapshot): the state
//     machine encodes its state, which is then exactly the state at the
//     applied index, and the loop hands it to the appender with the
//     index, term and voters. Encoding in memory is all the loop does; it
//     never waits for the disk.
//  2. On the append goroutine, the log's only writer (saveSnapshot): the
//     snapshot file is replaced durably (WriteFile: temp file, fsync,
//     rename, fsync the directory), then raft may send it (Storage.Snapshot),
//     then the active segment is rolled and the segments wholly before the
//     snapshot's index less SnapshotCatchUpEntries are deleted through the
//     segment store's head truncation, as retention deletes them.
//
// NB: the snapshot file is durable before any entry it covers is deleted,
// so a crash anywhere leaves a snapshot at or past the log's boundary.
//
// On open, the partition restores the snapshot, then raft applies only the
// entries after it. A follower that needs entries the leader deleted gets
// the snapshot (MsgSnap): its appender writes it as its own snapshot file,
// then resets its log to start after it; the loop restores the state
// machine from it before raft applies anything after it.
//
// A snapshot travels in one raft message, so it is bounded by the
// transport's MaxMessageBytes: a state that encodes larger is not
// snapshotted (an error is logged) and the log is kept.
const snapshotFileName = "snapshot"

// The snapshot file's layout, big endian:
//
//	0  4  magic "RNSP"
//	4  4  CRC32C of everything after this field
//	8  .. raftpb.Snapshot (protobuf): index, term, voters, and data, a
//	      runnel.raftstore.v1.SnapshotData with the state machine's state
var snapshotMagic = [4]byte{'R', 'N', 'S', 'P'}

const (
	// DefaultSnapshotEntries is PartitionConfig.SnapshotEntries' default.
	DefaultSnapshotEntries = 10_000
	// DefaultSnapshotCatchUpEntries is
	// PartitionConfig.SnapshotCatchUpEntries' default (etcd keeps 5,000:
	// its entries are larger and its snapshots costlier to send).
	DefaultSnapshotCatchUpEntries = 1_000
	// DefaultSnapshotBytes is PartitionConfig.SnapshotBytes' default.
	DefaultSnapshotBytes = 64 << 20
	// MaxSnapshotBytes bounds the state a snapshot holds: the snapshot is
	// one raft message, which the transport carries up to MaxMessageBytes;
	// 1 MiB is left for the message's and the batch's framing.
	MaxSnapshotBytes = MaxMessageBytes - 1<<20
)

// writeSnapshot replaces dir's snapshot file atomically and durably.
func writeSnapshot(dir string, snap raftpb.Snapshot) error {
	body, err := snap.Marshal()
	if err != nil {
		return err
	}
	b := make([]byte, 8, 8+len(body))
	copy(b, snapshotMagic[:])
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(b[8:], castagnoli))
	if err := WriteFile(dir, snapshotFileName, b); err != nil {
		return fmt.Errorf("write %s: %w", snapshotFileName, err)
	}
	return nil
}

// readSnapshot reads dir's snapshot file and decodes its data; ok is false
// when there is none. A damaged file is ErrCorrupt: it was replaced
// atomically, so damage is not a torn write.
func readSnapshot(dir string) (snap raftpb.Snapshot, data *raftstorev1.SnapshotData, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, snapshotFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return snap, nil, false, nil
	}
	if err != nil {
		return snap, nil, false, err
	}
	if len(b) < 8 || [4]byte(b[:4]) != snapshotMagic {
		return snap, nil, false, fmt.Errorf("%s: bad header: %w", snapshotFileName, ErrCorrupt)
	}
	if crc32.Checksum(b[8:], castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return snap, nil, false, fmt.Errorf("%s: checksum mismatch: %w", snapshotFileName, ErrCorrupt)
	}
	if err := snap.Unmarshal(b[8:]); err != nil {
		return snap, nil, false, fmt.Errorf("%s: %w: %w", snapshotFileName, err, ErrCorrupt)
	}
	data, err = snapshotData(snap)
	if err != nil {
		return snap, nil, false, fmt.Errorf("%s: %w: %w", snapshotFileName, err, ErrCorrupt)
	}
	return snap, data, true, nil
}

// snapshotData decodes a snapshot's data.
func snapshotData(snap raftpb.Snapshot) (*raftstorev1.SnapshotData, error) {
	var data raftstorev1.SnapshotData
	if err := proto.Unmarshal(snap.Data, &data); err != nil {
		return nil, fmt.Errorf("snapshot at index %d: %w", snap.Metadata.Index, err)
	}
	return &data, nil
}

// snapshots reports whether the partition takes and restores snapshots of
// its state machine.
func (pc *PartitionConfig) snapshots() bool {
	return pc.Apply != nil && pc.Snapshot != nil && pc.Restore != nil
}

func (pc *PartitionConfig) snapshotEntries() uint64 {
	if pc.SnapshotEntries > 0 {
		return pc.SnapshotEntries
	}
	return DefaultSnapshotEntries
}

func (pc *PartitionConfig) snapshotBytes() uint64 {
	if pc.SnapshotBytes > 0 {
		return pc.SnapshotBytes
	}
	return DefaultSnapshotBytes
}

func (pc *PartitionConfig) snapshotCatchUpEntries() uint64 {
	if pc.SnapshotCatchUpEntries > 0 {
		return pc.SnapshotCatchUpEntries
	}
	return DefaultSnapshotCatchUpEntries
}

// maybeSnapshot runs on the raft loop right after entries were applied:
// once SnapshotEntries (or SnapshotBytes of entries) were applied since the
// last snapshot, and the appender is done with the last one, it encodes
// the state machine, which is at the applied index now, and hands the
// snapshot to the appender.
func (p *Partition) maybeSnapshot(l *loopState) {
	if !p.cfg.snapshots() {
		return
	}
	applied := p.commitIndex.Load()
	due := applied >= l.snapIndex+p.cfg.snapshotEntries() || l.snapBytes >= p.cfg.snapshotBytes()
	if !due || applied <= l.snapIndex || p.snapshotBusy.Load() {
		return
	}
	// NB: whether or not it succeeds: a failure tries again after as
	// much more.
	l.snapBytes = 0
	state, err := p.cfg.Snapshot()
	if err == nil && len(state) > MaxSnapshotBytes {
		err = fmt.Errorf("the state is %d bytes, over the %d-byte limit of a snapshot (raftstore.MaxSnapshotBytes, "+
			"within the transport's message limit): the log is kept whole", len(state), MaxSnapshotBytes)
	}
	if err != nil {
		// NB: the log is kept; try again after as many entries more.
		l.snapIndex = applied
		p.logger.Error("no snapshot of the state machine", "index", applied, "err", err)
		return
	}
	st := p.storage.currentState()
	data, err := proto.Marshal(&raftstorev1.SnapshotData{
		LogStartOffset: p.highWatermark.Load(),
		ConfIndex:      st.confIndex,
		State:          state,
	})
	if err != nil {
		l.snapIndex = applied
		p.logger.Error("no snapshot of the state machine", "index", applied, "err", err)
		return
	}
	l.snapIndex = applied
	p.snapshotBusy.Store(true)
	// NB: never blocks: the channel holds one, and the appender took the
	// last one before it cleared snapshotBusy.
	p.snapshots <- raftpb.Snapshot{Data: data, Metadata: raftpb.SnapshotMetadata{
		Index:     applied,
		Term:      l.appliedTerm,
		ConfState: st.conf,
	}}
}

// saveSnapshot runs on the appender: it makes the loop's snapshot durable,
// offers it to raft, and deletes the log it covers but for the catch-up
// tail. A failure loses nothing (the log before the snapshot is deleted
// only once it is durable): it is logged, and the next snapshot tries
// again.
func (p *Partition) saveSnapshot(a *appenderState, snap raftpb.Snapshot) error {
	defer p.snapshotBusy.Store(false)
	if err := writeSnapshot(p.dir, snap); err != nil {
		return err
	}
	p.storage.setSnapshot(snap)
	index := snap.Metadata.Index
	keep := min(p.cfg.snapshotCatchUpEntries(), index)
	deleteBefore := index + 1 - keep
	if deleteBefore <= p.log.FirstIndex() {
		return nil
	}
	// NB: only whole sealed segments go: roll the active one if it holds
	// entries that a later snapshot will cover.
	if segs := p.log.Segments(); segs[len(segs)-1].FirstIndex < deleteBefore {
		if err := p.log.Roll(); err != nil {
			return err
		}
	}
	// As retention does: the saved commit index should cover what goes
	// (openPartition raises it to the log start and the snapshot anyway).
	if err := p.saveState(a, true /* force */); err != nil {
		return err
	}
	b, n, err := p.log.DeleteBefore(deleteBefore)
	if err != nil {
		return fmt.Errorf("delete the log before the snapshot: %w", err)
	}
	if n > 0 {
		p.logger.Debug("snapshot: deleted the log before it", "index", index, "segments", n, "first_index", b.Index+1)
		p.changed.notify()
	}
	return nil
}

// restoreSnapshot brings a state machine partition that is opening to its
// snapshot, if it has one: the log is made to start at or before the
// snapshot's index+1, the voters are the snapshot's if newer than the
// state file's, and the state machine restores the state. It returns the
// index the partition has applied (0: no snapshot). Called by
// openPartition, before the loop runs: Restore runs on the opener's
// goroutine, before any Apply.
func (p *Partition) restoreSnapshot(state *persistentState) (uint64, error) {
	snap, data, ok, err := readSnapshot(p.dir)
	if err != nil {
		return 0, err
	}
	if !ok || !p.cfg.snapshots() {
		// NB: a state machine replays its log from the start, which it
		// can only while nothing was deleted.
		if b := p.log.Boundary(); b.Index > 0 {
			return 0, fmt.Errorf("a state machine's log starts after index %d, and no snapshot (or no Restore) has the state before it: %w",
				b.Index, ErrCorrupt)
		}
		return 0, nil
	}
	md := snap.Metadata
	if b := p.log.Boundary(); b.Index > md.Index {
		return 0, fmt.Errorf("the log starts after index %d, past the snapshot at %d: %w", b.Index, md.Index, ErrCorrupt)
	}
	// The log may end before the snapshot, or hold other entries there: a
	// crash after a leader's snapshot was saved and before the log was
	// reset to it. Then the log starts after it, as installing it does.
	if t, err := p.log.Term(md.Index); err != nil || t != md.Term {
		if err := p.log.SetBoundary(boundaryOf(snap, data)); err != nil {
			return 0, fmt.Errorf("snapshot at index %d: %w", md.Index, err)
		}
	}
	if data.ConfIndex > state.confIndex || (state.confIndex == 0 && len(state.conf.Voters) == 0) {
		state.conf, state.confIndex = md.ConfState, data.ConfIndex
	}
	if err := p.cfg.Restore(data.State); err != nil {
		return 0, fmt.Errorf("restore the snapshot at index %d: %w", md.Index, err)
	}
	state.hard.Commit = max(state.hard.Commit, md.Index)
	p.storage.setSnapshot(snap)
	p.logger.Info("restored the snapshot", "index", md.Index, "bytes", len(data.State))
	return md.Index, nil
}
