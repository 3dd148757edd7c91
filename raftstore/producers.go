package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftstorev1 "github.com/runnel-broker/runnel/gen/runnel/raftstore/v1"
	"github.com/runnel-broker/runnel/raftstore/internal/producers"
	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// Idempotent producers.
//
// A data partition remembers its idempotent producers (producers.Table):
// per producer id, its epoch and last batches, so that the leader
// acknowledges a retry of a batch the log holds with its original offsets
// instead of appending it again. The table is a function of the log:
//
//   - Every replica applies each committed batch that names a producer
//     (BatchHeader.ProducerID), in log order, on the raft loop.
//   - The leader checks each such batch on the raft loop before proposing
//     it (propose), against the table and the batches it proposed in its
//     term and has not applied yet: so no election comes between the check
//     and the append, and two retries of one batch cannot both pass. It
//     checks only once it has applied an entry of its own term
//     (LeadsCurrent): every entry of earlier terms is then applied, so the
//     log holds no batch the table does not know.
//
// The table is saved, as of an applied index, in the partition's producers
// file: when the partition is created, every ProducerSaveEntries applied
// entries that include a producer's batch (every 10 times as many
// otherwise, so the index keeps up), and on close. The raft snapshot a
// follower behind the log start gets carries it as of the leader's
// applied index.
//
// On open, the partition restores the file and applies the batches after
// its index (after a crash: at most about 10 * ProducerSaveEntries
// entries); the table's Apply ignores batches older than it holds, so a
// saved state and a replay of any entries before its index agree with the
// log. A partition without the file was created before idempotence (or
// its file was removed): it starts with no producers, and reads nothing.
const producersFileName = "producers"

// ProducerSaveEntries is how many entries a data partition applies, with
// an idempotent producer's batch among them, between saves of its
// producer state; without one, ten times as many.
const ProducerSaveEntries = 10_000

// producerSaveBytes saves the producer state sooner, once the entries
// applied since the last save hold this many bytes: a replay reads them
// whole.
const producerSaveBytes = 256 << 20

// DefaultProducerExpiry is PartitionConfig.ProducerExpiry's default, Kafka's
// producer.id.expiration.ms.
const DefaultProducerExpiry = 24 * time.Hour

// The producers file's layout, big endian:
//
//	0  4  magic "RNPS"
//	4  4  CRC32C of everything after this field
//	8  .. runnel.raftstore.v1.ProducerState (protobuf)
var producersMagic = [4]byte{'R', 'N', 'P', 'S'}

func encodeProducers(st *raftstorev1.ProducerState) ([]byte, error) {
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8, 8+len(body))
	copy(b, producersMagic[:])
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(b[8:], castagnoli))
	return b, nil
}

// readProducers reads dir's producers file; nil when there is none.
func readProducers(dir string) (*raftstorev1.ProducerState, error) {
	b, err := os.ReadFile(filepath.Join(dir, producersFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) < 8 || [4]byte(b[:4]) != producersMagic {
		return nil, fmt.Errorf("%s: bad header: %w", producersFileName, ErrCorrupt)
	}
	if crc32.Checksum(b[8:], castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return nil, fmt.Errorf("%s: checksum mismatch: %w", producersFileName, ErrCorrupt)
	}
	var st raftstorev1.ProducerState
	if err := proto.Unmarshal(b[8:], &st); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", producersFileName, err, ErrCorrupt)
	}
	return &st, nil
}

// writeProducers replaces dir's producers file atomically and durably.
func writeProducers(dir string, st *raftstorev1.ProducerState) error {
	b, err := encodeProducers(st)
	if err != nil {
		return err
	}
	if err := WriteFile(dir, producersFileName, b); err != nil {
		return fmt.Errorf("write %s: %w", producersFileName, err)
	}
	return nil
}

func (pc *PartitionConfig) producerExpiry() time.Duration {
	if pc.ProducerExpiry > 0 {
		return pc.ProducerExpiry
	}
	return DefaultProducerExpiry
}

// openProducers builds a data partition's producer table as of its
// applied index, before the loop runs: the saved state, then the batches
// after it. A damaged file, or a damaged entry, is logged and skipped: the
// table only recognizes retries, and the log's damage is reported where
// it is read.
func (p *Partition) openProducers(applied uint64, created bool) error {
	p.producers = producers.New[*proposal](p.cfg.producerExpiry().Milliseconds())
	p.storage.producers = func() *raftstorev1.ProducerState { return p.producers.Encode(p.commitIndex.Load()) }
	if created {
		return writeProducers(p.dir, p.producers.Encode(applied))
	}
	st, err := readProducers(p.dir)
	switch {
	case errors.Is(err, ErrCorrupt):
		p.logger.Warn("the saved producer state is damaged: rebuilding it from the log", "err", err)
		st = &raftstorev1.ProducerState{}
	case err != nil:
		return err
	case st == nil:
		// Created before idempotent producers: nothing to replay. NB: saved
		// now, so that a crash before the first save replays what comes.
		return writeProducers(p.dir, p.producers.Encode(applied))
	}
	p.producers.Restore(st)
	from := max(p.log.FirstIndex(), st.GetIndex()+1)
	for from <= applied {
		// NB: in chunks, so that the replay holds little of the log.
		entries, err := p.log.Entries(from, applied+1, 16<<20)
		if err != nil {
			// NB: one entry at a time past damage, which is skipped.
			p.logger.Warn("replaying the producers: an entry is unreadable, its batch is not recognized if retried", "index", from, "err", err)
			from++
			continue
		}
		for _, e := range entries {
			if _, err := p.applyProducer(e, nil, nil); err != nil {
				p.logger.Warn("replaying the producers: skipped an entry", "index", e.Index, "err", err)
			}
		}
		from = entries[len(entries)-1].Index + 1
	}
	return nil
}

// applyProducer applies the batch of a committed entry to the producer
// table, if it names a producer (ok), and adds to done what waited for it
// and still waits (a retry times out as a proposal does).
func (p *Partition) applyProducer(e raftpb.Entry, waiting map[uint64]*proposal, done *[]completion) (ok bool, err error) {
	if e.Type != raftpb.EntryNormal || len(e.Data) == 0 {
		return false, nil
	}
	// NB: only a batch's header is needed; its payload may be damaged.
	h, _, err := segment.DecodeBatchHeader(e.Data)
	if err != nil {
		return false, fmt.Errorf("entry %d: %w", e.Index, err)
	}
	if h.ProducerID == 0 {
		return false, nil
	}
	base, _, err := p.log.EntryOffsets(e.Index)
	if err != nil {
		return false, fmt.Errorf("entry %d: %w", e.Index, err)
	}
	for _, w := range p.producers.Apply(producerBatch(h, base), e.Index) {
		if _, ok := waiting[w.id]; ok {
			*done = append(*done, completion{prop: w, result: proposalResult{baseOffset: base}})
		}
	}
	return true, nil
}

func producerBatch(h BatchHeader, base int64) producers.Batch {
	return producers.Batch{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		Count: int32(h.RecordCount), BaseOffset: base, AppendTime: h.AppendTime}
}

// checkProducer is the leader's check of an idempotent producer's batch,
// on the loop, before it is proposed: it reports whether to propose it;
// if not, prop is answered (a retry of an appended batch, an error) or
// waits for the pending batch it retries.
func (p *Partition) checkProducer(l *loopState, prop *proposal) bool {
	h := prop.header
	if p.producers == nil {
		prop.result <- proposalResult{err: errors.New("raftstore: an idempotent producer's batch for a state machine partition")}
		return false
	}
	st := p.node.BasicStatus()
	if st.RaftState != raft.StateLeader {
		prop.result <- proposalResult{err: ErrNotLeader}
		return false
	}
	if l.appliedTerm != st.Term {
		prop.result <- proposalResult{err: fmt.Errorf("%w: the leader of term %d has not applied an entry of its term yet, so cannot tell retries of earlier batches", ErrNotLeader, st.Term)}
		return false
	}
	b := producerBatch(h, 0)
	d, err := p.producers.Check(b)
	switch {
	case err != nil:
		prop.result <- proposalResult{err: fmt.Errorf("producer %d: %w", h.ProducerID, err)}
		return false
	case d.Verdict == producers.Appended:
		l.metrics.duplicates.Inc()
		prop.result <- proposalResult{baseOffset: d.BaseOffset}
		return false
	case d.Verdict == producers.Pending:
		// NB: waiting as a proposal does, so that it times out as the
		// batch it retries would.
		l.metrics.duplicates.Inc()
		p.producers.Wait(b, prop)
		prop.proposed = time.Now()
		prop.deadline = prop.proposed.Add(p.store.cfg.ProposalTimeout)
		l.waiting[prop.id] = prop
		l.metrics.proposalsInFlight.Add(1)
		return false
	}
	return true
}

// maybeSaveProducers hands the producer table to the appender to save,
// on the loop right after applying, once ProducerSaveEntries entries were
// applied since the last save with a producer's batch among them, or ten
// times as many without.
func (p *Partition) maybeSaveProducers(l *loopState) {
	due := (l.producerEntries >= ProducerSaveEntries && l.producerBatches > 0) || l.producerEntries >= 10*ProducerSaveEntries ||
		l.producerBytes >= producerSaveBytes
	if p.producers == nil || !due {
		return
	}
	st := p.producers.Encode(p.commitIndex.Load())
	select {
	case p.producerSaves <- st:
		l.producerEntries, l.producerBatches, l.producerBytes = 0, 0, 0
	default: // the appender is still saving the last one: next time
	}
}

// saveProducers runs on the appender: it replaces the producers file with
// st, unless the file holds a later state (the loop queued st before a
// leader's snapshot was installed). A failure loses nothing: the log holds
// what the file summarizes.
func (p *Partition) saveProducers(a *appenderState, st *raftstorev1.ProducerState) error {
	if st.GetIndex() < a.producersIndex {
		return nil
	}
	if err := writeProducers(p.dir, st); err != nil {
		return err
	}
	a.producersIndex = st.GetIndex()
	return nil
}

// saveSnapshotProducers saves the producer state a leader's snapshot of a
// data partition carries, before the log is reset to start after it: a
// restart then finds it with the log it summarizes.
func (p *Partition) saveSnapshotProducers(a *appenderState, snap raftpb.Snapshot) error {
	if p.cfg.Apply != nil {
		return nil
	}
	data, err := snapshotData(snap)
	if err != nil {
		return err
	}
	if st := data.GetProducers(); st != nil {
		return p.saveProducers(a, st)
	}
	return nil
}
