package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
	"github.com/runnel-broker/runnel/raftstore/internal/producers"
	"github.com/runnel-broker/runnel/raftstore/internal/segment"
)

var (
	// ErrFull is an append past Options.MaxBytes.
	ErrFull = errors.New("spool full")
	// ErrFailed is an append or read of a queue whose write or fsync
	// failed: restart to recover it.
	ErrFailed = errors.New("spool failed")
	// ErrFenced is an application's batch in an older producer epoch than
	// the queue's newest.
	ErrFenced = producers.ErrFenced
	// ErrOutOfOrder is an application's batch whose sequence is not the
	// next one, nor a retry of one of its last Window batches.
	ErrOutOfOrder = producers.ErrOutOfOrder
	// ErrClosed is a call after Close.
	ErrClosed = errors.New("spool closed")
)

// Options configure a spool.
type Options struct {
	// MaxBytes bounds the spool's segments on disk, all queues together.
	// Required.
	MaxBytes int64
	// ProducerExpiry is how long an application's idle producer is
	// remembered (0: for as long as its batches are spooled).
	ProducerExpiry time.Duration
	// Logger receives recovery warnings. Default slog.Default().
	Logger *slog.Logger

	// segmentBytes, if set, replaces the segment size derived from
	// MaxBytes: the power-loss test rolls and deletes segments of a few
	// KiB, so that its thousands of crash images stay small.
	segmentBytes int64
}

// Spool is a directory of queues, one per topic partition.
type Spool struct {
	dir          string
	opts         Options
	segmentBytes int64
	cache        *segment.Cache

	used atomic.Int64 // every queue's segment bytes

	mu     sync.Mutex // guards the fields below
	closed bool
	queues map[queueKey]*Queue
	ident  identity
}

type queueKey struct {
	topic     string
	partition int32
}

const queuesDir = "queues"

// Open opens the spool in dir (creating it), with every queue it holds.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		return nil, errors.New("spool: MaxBytes must be positive")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// NB: segments a sixteenth of the bound (1 MiB to 64 MiB), so that a
	// spool freed of what it forwarded keeps little it no longer needs.
	s := &Spool{dir: dir, opts: opts, segmentBytes: min(max(opts.MaxBytes/16, 1<<20), 64<<20),
		cache: segment.NewCache(64), queues: map[queueKey]*Queue{}}
	if opts.segmentBytes > 0 {
		s.segmentBytes = opts.segmentBytes
	}
	_, statErr := os.Stat(dir)
	if err := fsops.MkdirAll(filepath.Join(dir, queuesDir)); err != nil {
		return nil, err
	}
	// NB: a directory's entry is durable only once its parent is synced,
	// and a power cut that loses it loses everything in it: the spool's
	// own entry (when Open made it), the queues directory's, and the
	// queue directories' in it (Open may be the first to run after a
	// process crash that left them unsynced), before anything in them is
	// acknowledged.
	if errors.Is(statErr, os.ErrNotExist) {
		if err := fsops.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, fmt.Errorf("spool: sync the parent of %s: %w", dir, err)
		}
	}
	if err := errors.Join(fsops.SyncDir(dir), fsops.SyncDir(filepath.Join(dir, queuesDir))); err != nil {
		return nil, fmt.Errorf("spool: sync %s: %w", dir, err)
	}
	ident, err := readIdentity(dir)
	if err != nil {
		return nil, err
	}
	s.ident = ident
	entries, err := os.ReadDir(filepath.Join(dir, queuesDir))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		topic, partition, ok := parseQueueDir(e.Name())
		if !e.IsDir() || !ok {
			continue
		}
		q, err := openQueue(s, topic, partition, filepath.Join(dir, queuesDir, e.Name()))
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		s.queues[queueKey{topic, partition}] = q
		s.used.Add(q.log.Size())
	}
	return s, nil
}

// A queue's directory is named as a Kafka partition's: topic-partition.
func queueDirName(topic string, partition int32) string {
	return topic + "-" + strconv.Itoa(int(partition))
}

func parseQueueDir(name string) (string, int32, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return "", 0, false
	}
	return name[:i], int32(p), true
}

// Queue returns the topic partition's queue, created on first use.
func (s *Spool) Queue(topic string, partition int32) (*Queue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	k := queueKey{topic, partition}
	if q := s.queues[k]; q != nil {
		return q, nil
	}
	dir := filepath.Join(s.dir, queuesDir, queueDirName(topic, partition))
	// NB: a new queue's directory entry is made durable before anything
	// in it is acknowledged (see Open).
	if err := fsops.MkdirAll(dir); err != nil {
		return nil, err
	}
	if err := fsops.SyncDir(filepath.Join(s.dir, queuesDir)); err != nil {
		return nil, fmt.Errorf("spool: sync %s: %w", filepath.Join(s.dir, queuesDir), err)
	}
	q, err := openQueue(s, topic, partition, dir)
	if err != nil {
		return nil, err
	}
	s.queues[k] = q
	s.used.Add(q.log.Size())
	return q, nil
}

// Queues returns every queue, by topic and partition.
func (s *Spool) Queues() []*Queue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Queue, 0, len(s.queues))
	for _, q := range s.queues {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *Queue) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// Used is the bytes the spool's segments take; MaxBytes its bound.
func (s *Spool) Used() int64     { return s.used.Load() }
func (s *Spool) MaxBytes() int64 { return s.opts.MaxBytes }

// reserve takes size bytes of the bound for an append, or fails ErrFull.
// (The append's real growth replaces the reservation: see account.)
func (s *Spool) reserve(size int64) error {
	for {
		used := s.used.Load()
		if used+size > s.opts.MaxBytes {
			return fmt.Errorf("%w: %d of its %d bytes are taken by records not yet forwarded to the cluster (and %d more were asked)",
				ErrFull, used, s.opts.MaxBytes, size)
		}
		if s.used.CompareAndSwap(used, used+size) {
			return nil
		}
	}
}

// QueueBatch is a batch for a queue, for AppendAll.
type QueueBatch struct {
	Queue *Queue
	Batch Batch
}

// AppendAll appends each batch to its queue as Append does, but takes
// the room for all of them first, so that a request split over
// partitions is spooled whole or, when the spool is full, not at all
// (ErrFull). A failure past that (ErrFailed, an application producer's
// error) leaves the batches before it appended: their Appended are
// returned with it.
func (s *Spool) AppendAll(bs []QueueBatch) ([]Appended, error) {
	var total int64
	for _, b := range bs {
		total += appendSize(b.Batch)
	}
	if err := s.reserve(total); err != nil {
		return nil, err
	}
	out := make([]Appended, 0, len(bs))
	for i, b := range bs {
		a, err := b.Queue.append(b.Batch, appendSize(b.Batch))
		if err != nil {
			for _, rest := range bs[i+1:] {
				s.account(0, appendSize(rest.Batch))
			}
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// account replaces a reservation by what the segments grew (or shrank).
func (s *Spool) account(grew, reserved int64) { s.used.Add(grew - reserved) }

// Close closes every queue.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	for _, q := range s.queues {
		err = errors.Join(err, q.close())
	}
	return err
}

// identity is the spool's identity file: the upstream producer id its
// forwarders send as, and the end of the block of application producer
// ids handed out.
type identity struct {
	upstream int64
	appIDs   int64 // ids below are taken
	nextApp  int64 // the next to hand out (in memory)
}

const (
	identityFile = "identity"
	identitySize = 8 + 8 + 4
	// appIDBlock ids are recorded taken at a time.
	appIDBlock = 1024
)

func readIdentity(dir string) (identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if errors.Is(err, os.ErrNotExist) {
		return identity{nextApp: 1, appIDs: 1}, nil
	}
	if err != nil {
		return identity{}, err
	}
	if len(b) != identitySize || binary.BigEndian.Uint32(b[16:]) != crc32.Checksum(b[:16], castagnoli) {
		return identity{}, fmt.Errorf("spool: %s is damaged: it names the producer the spool forwards as; without it what the spool holds could be appended twice",
			filepath.Join(dir, identityFile))
	}
	id := identity{upstream: int64(binary.BigEndian.Uint64(b)), appIDs: int64(binary.BigEndian.Uint64(b[8:]))}
	id.nextApp = id.appIDs
	return id, nil
}

// writeIdentityLocked replaces the identity file durably.
func (s *Spool) writeIdentityLocked(id identity) error {
	var b [identitySize]byte
	binary.BigEndian.PutUint64(b[0:], uint64(id.upstream))
	binary.BigEndian.PutUint64(b[8:], uint64(id.appIDs))
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	return writeFile(s.dir, identityFile, b[:])
}

// writeFile replaces dir/name with data durably: a temporary file,
// fsync'd, renamed over it, and the directory fsync'd.
func writeFile(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := fsops.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, fsops.Fsync(f), f.Close()); err != nil {
		return fmt.Errorf("spool: write %s: %w", path, err)
	}
	if err := fsops.Rename(tmp, path); err != nil {
		return fmt.Errorf("spool: write %s: %w", path, err)
	}
	return fsops.SyncDir(dir)
}

// UpstreamProducer returns the producer id the spool's batches are
// forwarded as, calling initProducer (the cluster's InitProducer) the first
// time and recording its answer durably before returning it.
func (s *Spool) UpstreamProducer(initProducer func() (int64, error)) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ident.upstream != 0 {
		return s.ident.upstream, nil
	}
	id, err := initProducer()
	if err != nil {
		return 0, err
	}
	next := s.ident
	next.upstream = id
	if err := s.writeIdentityLocked(next); err != nil {
		return 0, err
	}
	s.ident = next
	return id, nil
}

// NextProducerID hands out an application producer id, never one handed
// out before by this spool.
func (s *Spool) NextProducerID() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ident.nextApp >= s.ident.appIDs {
		next := s.ident
		next.appIDs = s.ident.nextApp + appIDBlock
		if err := s.writeIdentityLocked(next); err != nil {
			return 0, err
		}
		s.ident.appIDs = next.appIDs
	}
	id := s.ident.nextApp
	s.ident.nextApp++
	return id, nil
}
