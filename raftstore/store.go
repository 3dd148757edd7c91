package raftstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

// Config configures a Store. Zero values take the defaults of
// DefaultConfig.
type Config struct {
	// Dir is the data directory; each partition gets a subdirectory.
	Dir string
	// NodeID is this broker's raft id (1 on a single node).
	NodeID uint64
	// TickInterval is raft's logical clock; elections time out after
	// ElectionTicks ticks.
	TickInterval  time.Duration
	ElectionTicks int
	// RetentionCheckInterval is how often partitions apply retention
	// (Kafka's log.retention.check.interval.ms).
	RetentionCheckInterval time.Duration
	// Transport sends raft messages to the other brokers; nil on a single
	// node. Messages from them come in through Store.Step.
	Transport Transport
	// ProposalTimeout fails a proposal that is not applied this long after
	// it was made (a leader lost it, say): its outcome is then unknown.
	ProposalTimeout time.Duration
	// ReplicaLagTime is how long a follower may go without keeping up
	// with its leader before it no longer counts as in sync (Kafka's
	// replica.lag.time.max.ms, shorter: raft followers are pushed to, not
	// polled). Default 10s.
	ReplicaLagTime time.Duration
	// MaxUncommittedBytes bounds the entries a partition's leader holds
	// appended but not committed (raft's MaxUncommittedEntriesSize): past
	// it a proposal is dropped (ErrNotLeader). The server's memory budget
	// bounds what its own producers propose below this, so that they wait
	// rather than fail; this bound is the backstop for proposals raft
	// forwards from followers (of the partitions that forward them).
	// Default 256 MiB, at least
	// MinUncommittedBytes.
	MaxUncommittedBytes int64
	// OpenSealedSegments bounds how many sealed segments, across every
	// partition of the store, have their files mapped at a time (three
	// mappings each, no descriptors); the least recently read are unmapped
	// and mapped again when read. Active segments are not counted: each
	// partition keeps three descriptors and three mappings for its own.
	// Default 512.
	OpenSealedSegments int
	Logger             *slog.Logger
}

// MinUncommittedBytes is the least MaxUncommittedBytes may be: room for
// two of the largest entries, so that a large batch behind another is not
// dropped.
const MinUncommittedBytes = 2 * MaxEntryBytes

// DefaultConfig returns the configuration used for unset fields.
func DefaultConfig() Config {
	return Config{
		Dir:                    "data",
		NodeID:                 1,
		TickInterval:           100 * time.Millisecond,
		ElectionTicks:          10,
		RetentionCheckInterval: time.Minute,
		ProposalTimeout:        10 * time.Second,
		ReplicaLagTime:         10 * time.Second,
		MaxUncommittedBytes:    256 << 20,
		OpenSealedSegments:     segment.DefaultOpenSealedSegments,
		Logger:                 slog.Default(),
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Dir == "" {
		c.Dir = d.Dir
	}
	if c.NodeID == 0 {
		c.NodeID = d.NodeID
	}
	if c.TickInterval <= 0 {
		c.TickInterval = d.TickInterval
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = d.ElectionTicks
	}
	if c.RetentionCheckInterval <= 0 {
		c.RetentionCheckInterval = d.RetentionCheckInterval
	}
	if c.ProposalTimeout <= 0 {
		c.ProposalTimeout = d.ProposalTimeout
	}
	if c.MaxUncommittedBytes <= 0 {
		c.MaxUncommittedBytes = d.MaxUncommittedBytes
	}
	c.MaxUncommittedBytes = max(c.MaxUncommittedBytes, MinUncommittedBytes)
	if c.ReplicaLagTime <= 0 {
		c.ReplicaLagTime = d.ReplicaLagTime
	}
	if c.OpenSealedSegments <= 0 {
		c.OpenSealedSegments = d.OpenSealedSegments
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Store owns a data directory and the partitions in it.
type Store struct {
	cfg     Config
	flusher *flusher
	metrics *metrics
	// segments is shared by every partition's log: the bound on mapped
	// sealed segments is the store's, not each partition's.
	segments *segment.Cache

	// openMu serializes opening, deleting and closing partitions, which
	// do I/O (recovery, fsyncs), so that mu is held only for lookups.
	// NB: lock order is openMu, then mu.
	openMu sync.Mutex

	mu         sync.Mutex // guards partitions and closed
	partitions map[string]*Partition
	closed     bool

	stopTicking chan struct{} // closed by Close
	tickerDone  chan struct{}
}

// deletedSuffix marks a partition directory that is being removed; Open
// finishes the removal after a crash.
const deletedSuffix = ".deleted"

// MaxPartitionNameLength is the longest partition (directory) name
// OpenPartition takes: NAME_MAX, 255 bytes on every file system a broker
// runs on. Every other name the store derives from it fits too: the files
// inside have fixed short names, and a directory being deleted is renamed
// to at most NAME_MAX bytes (deletingName).
const MaxPartitionNameLength = 255

// deletingName is the name a directory being deleted is renamed to: its
// name, cut short enough that the random tag and deletedSuffix still fit
// in NAME_MAX (the tag keeps it unique).
func deletingName(name string) string {
	tag := "." + randomHex(4) + deletedSuffix
	return name[:min(len(name), MaxPartitionNameLength-len(tag))] + tag
}

// Open opens the data directory, creating it if needed.
func Open(cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	_, statErr := os.Stat(cfg.Dir)
	if err := fsops.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("raftstore: create data dir: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// NB: a new data directory's own entry must be durable before
		// anything inside it is acknowledged, or a power cut loses the
		// whole tree.
		if err := fsops.SyncDir(filepath.Dir(filepath.Clean(cfg.Dir))); err != nil {
			return nil, fmt.Errorf("raftstore: sync the data dir's parent: %w", err)
		}
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("raftstore: read data dir: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasSuffix(e.Name(), deletedSuffix) {
			if err := fsops.RemoveAll(filepath.Join(cfg.Dir, e.Name())); err != nil {
				return nil, fmt.Errorf("raftstore: finish deleting %s: %w", e.Name(), err)
			}
		}
	}
	m := newMetrics()
	s := &Store{cfg: cfg, metrics: m, flusher: newFlusher(m), segments: segment.NewCache(cfg.OpenSealedSegments), partitions: make(map[string]*Partition),
		stopTicking: make(chan struct{}), tickerDone: make(chan struct{})}
	go s.tick()
	return s, nil
}

// tick is the store's one clock: every TickInterval it ticks each open
// partition (its raft loop and its appender), so that a broker with
// thousands of partitions runs one timer, not thousands. A partition busy
// when its tick comes gets the next one: ticks are not queued.
func (s *Store) tick() {
	defer close(s.tickerDone)
	ticker := time.NewTicker(s.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stopTicking:
			return
		case <-ticker.C:
		}
		s.mu.Lock()
		for _, p := range s.partitions {
			p.tick()
		}
		s.mu.Unlock()
	}
}

// PartitionNames lists the partition directories on disk, open or not:
// the directories holding a raft state file. Anything else in the data
// directory is not the store's and is left alone.
func (s *Store) PartitionNames() ([]string, error) {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), deletedSuffix) {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.cfg.Dir, e.Name(), stateFileName)); err == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Partition returns the open partition called name, or nil.
func (s *Store) Partition(name string) *Partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.partitions[name]
}

// Partitions returns the open partitions.
func (s *Store) Partitions() []*Partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.partitions))
}

// OpenPartition opens (creating if needed) the partition stored in the
// subdirectory name and starts its raft goroutine. Opening a partition that
// is already open returns it.
func (s *Store) OpenPartition(name string, pc PartitionConfig) (*Partition, error) {
	if !validDirName(name) {
		return nil, fmt.Errorf("raftstore: bad partition name %q", name)
	}
	if len(name) > MaxPartitionNameLength {
		return nil, fmt.Errorf("raftstore: partition name of %d bytes, over the %d-byte limit of a file name", len(name), MaxPartitionNameLength)
	}
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.Lock()
	p, open := s.partitions[name]
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case open:
		return p, nil
	}
	p, err := openPartition(s, name, pc)
	if err != nil {
		return nil, fmt.Errorf("raftstore: open partition %s: %w", name, err)
	}
	s.mu.Lock()
	s.partitions[name] = p
	s.mu.Unlock()
	return p, nil
}

// DeletePartition closes the partition if it is open and deletes its
// directory. The directory is first renamed, so a crash midway leaves
// nothing that looks like a live partition.
func (s *Store) DeletePartition(name string) error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.Lock()
	p := s.partitions[name]
	delete(s.partitions, name)
	s.mu.Unlock()
	if p != nil {
		if err := p.Close(); err != nil && !errors.Is(err, ErrClosed) {
			s.cfg.Logger.Warn("close deleted partition", "partition", name, "err", err)
		}
	}
	if err := s.removeDir(filepath.Join(s.cfg.Dir, name)); err != nil {
		return fmt.Errorf("raftstore: delete partition %s: %w", name, err)
	}
	return nil
}

// removeDir deletes a partition directory: renamed first (durably), so a
// crash midway leaves nothing that looks like a live partition.
func (s *Store) removeDir(dir string) error {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	gone := filepath.Join(filepath.Dir(dir), deletingName(filepath.Base(dir)))
	if err := fsops.Rename(dir, gone); err != nil {
		return err
	}
	if err := fsops.SyncDir(s.cfg.Dir); err != nil {
		return err
	}
	return fsops.RemoveAll(gone)
}

// Close closes every partition (each persists its state and syncs its log)
// and stops the flusher. Closing again returns ErrClosed.
func (s *Store) Close() error {
	// NB: openMu only while marking the store closed: opens in progress
	// finish first and later ones fail. Not while closing partitions: a
	// state machine's apply may be waiting for openMu on a loop that
	// closing has to stop.
	s.openMu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.openMu.Unlock()
		return ErrClosed
	}
	s.closed = true
	parts := s.partitions
	s.partitions = map[string]*Partition{}
	s.mu.Unlock()
	s.openMu.Unlock()
	close(s.stopTicking)
	<-s.tickerDone
	var errs []error
	for _, p := range parts {
		if err := p.Close(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.flusher.stop()
	return errors.Join(errs...)
}

func validDirName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) &&
		!strings.HasSuffix(name, deletedSuffix)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
