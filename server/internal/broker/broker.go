package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/runnel-broker/runnel/raftstore"
	"github.com/runnel-broker/runnel/server/internal/assignor"
	"github.com/runnel-broker/runnel/server/internal/catalog"
	"github.com/runnel-broker/runnel/server/internal/errs"
	"github.com/runnel-broker/runnel/server/internal/offsets"
)

// metadataPartition is the raft group holding the catalog, KRaft style.
const (
	metadataTopic     = "__cluster_metadata"
	metadataPartition = metadataTopic + "-0"
)

// Config configures a Broker.
type Config struct {
	DataDir string
	NodeID  int32
	// Peers lists the brokers of the initial cluster by node id, this one
	// included, with the gRPC address the other brokers reach each on, its
	// peer listener (like etcd's --initial-cluster). Empty: this broker
	// alone, at AdvertisedPeerAddress.
	Peers map[int32]string
	// AdvertisedAddress is the gRPC address clients reach this broker on,
	// as DescribeCluster and leader hints report it.
	AdvertisedAddress string
	// AdvertisedPeerAddress is the one the other brokers reach it on; in
	// a cluster, Peers says.
	AdvertisedPeerAddress string
	// Version is this broker's build (buildinfo.Info.String), recorded
	// with its registration for DescribeCluster.
	Version string
	// Joining says this broker joined a running cluster (Peers are its
	// brokers as the cluster's Join answered): a new data directory
	// follows the metadata and consumer offsets groups as a learner
	// rather than creating them.
	Joining bool
	// JoinedClusterID is the id of the cluster joined: a data directory
	// of another is refused.
	JoinedClusterID string
	// Rejoin says this broker's data directory is new but the cluster
	// (JoinedClusterID) already counted it: its data was lost. Every
	// replica it held comes back empty and takes no part in elections
	// until it has caught up (raftstore's Rejoin), so that a broker that
	// forgot what it acknowledged cannot help elect a replica lacking it.
	// A marker in the data directory keeps it so until every replica
	// the catalog names has been opened that way.
	Rejoin bool
	// PeersCluster asks the initial peers which cluster their data
	// directories belong to (the server does it over gRPC: Identify): the
	// id one of them names, or "" once a quorum of the cluster named
	// none. A broker with a new data directory and peers asks before it
	// creates anything; if they already form a cluster, it lost its data
	// and rejoins. Nil: it never asks.
	PeersCluster           func(context.Context) (string, error)
	RetentionCheckInterval time.Duration
	// Transport carries raft messages to and from the other brokers: the
	// broker attaches its store to it once open, and adds the brokers
	// it learns of. Its creator closes it. Nil: this broker never talks
	// to another.
	Transport Transport
	// MaxUncommittedBytes is each partition's bound on entries appended
	// but not committed (raftstore.Config.MaxUncommittedBytes).
	MaxUncommittedBytes int64
	// GroupSessionTimeout and GroupRebalanceTimeout time the consumer
	// groups this broker coordinates (group.Config); zero: the defaults.
	GroupSessionTimeout   time.Duration
	GroupRebalanceTimeout time.Duration
	// ProducerExpiry is how long an idempotent producer may be idle before
	// the partitions here forget it (raftstore.PartitionConfig); zero: the
	// default.
	ProducerExpiry time.Duration
	// GroupAssignor names the assignor of the groups this broker
	// coordinates: "uniform" (the default) or "range".
	GroupAssignor string
	// TopicDeleted, when set, is called with a topic's name as this broker
	// applies its deletion from the metadata log, after removing its
	// partitions here: on every broker of the cluster, whichever took the
	// DeleteTopic call, so that each forgets what it kept of the topic
	// (the server: its per-topic metrics). Not while the log replays at
	// start, when nothing of a deleted topic is kept yet. It runs while
	// metadata changes apply: keep it short.
	TopicDeleted func(name string)
	// InternalSnapshotEntries is how many entries the internal topics
	// (metadata, consumer offsets) apply between snapshots of their state,
	// after which their logs before the snapshot are deleted
	// (raftstore.PartitionConfig.SnapshotEntries). 0: the default, 10,000;
	// negative: no snapshots, the logs are kept whole and replayed on
	// every start.
	InternalSnapshotEntries int
	Logger                  *slog.Logger
}

// Broker is one broker's topics, partitions and consumer offsets.
type Broker struct {
	cfg         Config
	logger      *slog.Logger
	store       *raftstore.Store
	transport   Transport // nil: no other broker is ever reached
	catalog     *catalog.Catalog
	offsets     *offsets.Table
	groups      *coordinator
	assignor    assignor.Assignor // the groups'
	producerIDs producerIDs
	// decompressing bounds the compressed produce requests checked at
	// once (maxDecompressing).
	decompressing *semaphore.Weighted

	meta        *raftstore.Partition
	offsetParts [offsets.Partitions]*raftstore.Partition

	// applyMu makes applying a metadata change and acting on it one step
	// against openTopics: every change is either in the catalog openTopics
	// reads or acted on after it (see act).
	applyMu sync.Mutex
	// live is set once the metadata log is replayed and the partitions
	// it names are open: from then on, applying a record acts on disk.
	live bool
	// metaOpen is set once the metadata partition's OpenPartition
	// returned: a snapshot restored before is restored on open, before
	// anything applies or acts (see restoreMetadata).
	metaOpen atomic.Bool
	// started is closed when Start succeeded: the broker serves.
	started chan struct{}
	// closing is closed by Close, to stop the background work.
	closing chan struct{}
	// roundRobin spreads keyless records over partitions.
	roundRobin atomic.Uint32
	// rejoining: this start rebuilds lost data (Config.Rejoin); set by
	// start before anything opens.
	rejoining bool
	// clusterIDStored: the data directory's cluster.id is written (see
	// storeClusterID); guarded by applyMu once the groups run.
	clusterIDStored bool
}

// New opens the data directory and attaches the store to the raft
// transport (Config.Transport). The broker serves nothing until Start:
// the server serves the transport first, since starting waits for the
// other brokers.
func New(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NodeID <= 0 {
		cfg.NodeID = 1
	}
	if cfg.GroupSessionTimeout <= 0 {
		cfg.GroupSessionTimeout = DefaultGroupSessionTimeout
	}
	if cfg.GroupRebalanceTimeout <= 0 {
		cfg.GroupRebalanceTimeout = DefaultGroupRebalanceTimeout
	}
	if len(cfg.Peers) == 0 {
		cfg.Peers = map[int32]string{cfg.NodeID: cfg.AdvertisedPeerAddress}
	}
	addr, ok := cfg.Peers[cfg.NodeID]
	if !ok {
		return nil, errs.Newf(ErrInvalid, "node id %d is not among the peers %v", cfg.NodeID, cfg.Peers)
	}
	cfg.AdvertisedPeerAddress = addr
	b := &Broker{cfg: cfg, logger: cfg.Logger, catalog: catalog.New(), offsets: offsets.New(),
		started: make(chan struct{}), closing: make(chan struct{}), decompressing: semaphore.NewWeighted(maxDecompressing)}
	b.groups = &coordinator{b: b, groups: map[string]*coordinated{}}
	var err error
	if b.assignor, err = assignor.ByName(cfg.GroupAssignor); err != nil {
		return nil, errs.Newf(ErrInvalid, "group assignor %q: want uniform or range", cfg.GroupAssignor)
	}
	rc := raftstore.Config{
		Dir:                    cfg.DataDir,
		NodeID:                 uint64(cfg.NodeID),
		RetentionCheckInterval: cfg.RetentionCheckInterval,
		MaxUncommittedBytes:    cfg.MaxUncommittedBytes,
		Logger:                 cfg.Logger,
	}
	if cfg.Transport != nil {
		b.transport, rc.Transport = cfg.Transport, cfg.Transport
	}
	store, err := raftstore.Open(rc)
	if err != nil {
		return nil, err
	}
	b.store = store
	// NB: once the store is there: a peer's sender reports to it at once
	// when the peer cannot be reached.
	if b.transport != nil {
		b.transport.Attach(store)
	}
	if err := b.addPeers(); err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return b, nil
}

// Start replays the metadata and offsets logs and opens every topic's
// partitions. It returns once the broker can serve: in a cluster, once a
// quorum of brokers is up.
func (b *Broker) Start(ctx context.Context) error {
	if err := b.start(ctx); err != nil {
		return err
	}
	close(b.started)
	go b.balanceLeaders(b.closing)
	go b.reassignPartitions(b.closing)
	go b.addLearners(b.closing)
	go b.drainBrokers(b.closing)
	go b.groups.run(b.closing)
	return nil
}

// Started returns a channel closed once Start succeeded.
func (b *Broker) Started() <-chan struct{} { return b.started }

// clusterIDFile names the cluster a data directory belongs to, so that a
// broker joining a cluster refuses a directory of another before it opens
// anything in it, and a broker whose directory was wiped learns from its
// peers' (Identify) that it must rejoin.
const clusterIDFile = "cluster.id"

// rejoiningFile marks a data directory being rebuilt after its data was
// lost (Config.Rejoin), until the replicas it must hold are all open.
const rejoiningFile = "rejoining"

// StoredClusterID returns the id of the cluster the data directory
// belongs to, "" while it belongs to none: from the directory alone, so
// that it answers while the broker starts.
func StoredClusterID(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, clusterIDFile))
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

// HasMetadata reports whether the data directory holds a metadata log: a
// broker without one either creates the cluster or lost its data.
func HasMetadata(dataDir string) (bool, error) {
	return raftstore.PartitionExists(dataDir, metadataPartition)
}

func (b *Broker) start(ctx context.Context) error {
	idFile := filepath.Join(b.cfg.DataDir, clusterIDFile)
	switch _, err := os.Stat(idFile); {
	case err == nil:
		b.clusterIDStored = true
	case !os.IsNotExist(err):
		return err
	}
	if err := b.markRejoining(ctx); err != nil {
		return err
	}
	if b.cfg.JoinedClusterID != "" {
		switch stored, err := os.ReadFile(idFile); {
		case err == nil && string(stored) != b.cfg.JoinedClusterID:
			return errs.Newf(ErrInvalid, "the data directory %s holds cluster %s, not the cluster %s joined: join with an empty data directory",
				b.cfg.DataDir, stored, b.cfg.JoinedClusterID)
		case err != nil && !os.IsNotExist(err):
			return err
		}
	}
	if err := b.startGroups(ctx); err != nil {
		return err
	}
	if err := b.registerSelf(ctx); err != nil {
		return fmt.Errorf("register this broker's addresses: %w", err)
	}
	b.applyMu.Lock()
	err := b.storeClusterID()
	b.applyMu.Unlock()
	if err != nil {
		return err
	}
	if b.rejoining {
		// NB: every replica the catalog names was opened with Rejoin,
		// and keeps its own marker until caught up.
		if err := raftstore.RemoveFile(b.cfg.DataDir, rejoiningFile); err != nil {
			return err
		}
		b.logger.Info("rejoined the cluster: every replica is open and catching up")
	}
	return nil
}

// markRejoining decides whether this start rebuilds lost data: asked to
// (Config.Rejoin), or an earlier start was and did not finish. It records
// the decision, and the cluster's id, before anything is opened.
func (b *Broker) markRejoining(ctx context.Context) error {
	marker := filepath.Join(b.cfg.DataDir, rejoiningFile)
	_, err := os.Stat(marker)
	switch {
	case err == nil:
		b.rejoining = true
		return nil
	case !os.IsNotExist(err):
		return err
	case b.cfg.Rejoin:
	case b.cfg.Joining || b.cfg.PeersCluster == nil || len(b.cfg.Peers) < 2:
		return nil
	default:
		has, err := HasMetadata(b.cfg.DataDir)
		if err != nil || has {
			return err
		}
		b.logger.Info("new data directory: asking the peers whether their cluster exists")
		id, err := b.cfg.PeersCluster(ctx)
		if err != nil || id == "" {
			return err
		}
		b.cfg.JoinedClusterID = id
	}
	b.rejoining = true
	b.logger.Warn("this broker's data directory is empty but the cluster had it: it lost its data, and rejoins; "+
		"its replicas catch up from the others and vote only once they have", "cluster_id", b.cfg.JoinedClusterID)
	if err := raftstore.WriteFile(b.cfg.DataDir, clusterIDFile, []byte(b.cfg.JoinedClusterID)); err != nil {
		return err
	}
	b.clusterIDStored = true
	return raftstore.WriteFile(b.cfg.DataDir, rejoiningFile, nil)
}

// storeClusterID writes cluster.id once the metadata names the cluster:
// from the moment its first record applies, so that a peer that lost its
// data learns from this one (Identify) that the cluster exists. applyMu
// is held (or the groups do not run yet).
func (b *Broker) storeClusterID() error {
	if b.clusterIDStored || b.catalog.ClusterID() == "" {
		return nil
	}
	if err := raftstore.WriteFile(b.cfg.DataDir, clusterIDFile, []byte(b.catalog.ClusterID())); err != nil {
		return fmt.Errorf("write %s: %w", clusterIDFile, err)
	}
	b.clusterIDStored = true
	return nil
}

// internalGroup configures a group every broker replicates (the metadata
// and the consumer offsets): a state machine over apply, snapshotted by
// snapshot and restore so that its log is truncated behind the snapshots,
// its voters the initial brokers, whose followers forward their proposals
// (each write waits for the one before, so no order is at stake).
func (b *Broker) internalGroup(apply func(raftstore.Batch) error, snapshot func() ([]byte, error), restore func([]byte) error) raftstore.PartitionConfig {
	pc := raftstore.PartitionConfig{
		SegmentBytes:     64 << 20,
		Voters:           b.allVoters(),
		Join:             b.cfg.Joining,
		Rejoin:           b.rejoining,
		Campaign:         b.campaignsFirst() && !b.cfg.Joining,
		ForwardProposals: true,
		Apply:            apply,
	}
	if n := b.cfg.InternalSnapshotEntries; n >= 0 {
		pc.Snapshot, pc.Restore = snapshot, restore
		if n > 0 {
			// NB: a tenth of the interval kept, as raftstore's defaults
			// do, so that a follower a little behind still gets entries
			// rather than the snapshot.
			pc.SnapshotEntries, pc.SnapshotCatchUpEntries = uint64(n), max(uint64(n)/10, 1)
		}
	}
	return pc
}

func (b *Broker) startGroups(ctx context.Context) error {
	meta, err := b.store.OpenPartition(metadataPartition, b.internalGroup(b.applyMetadata, b.catalog.Snapshot, b.restoreMetadata))
	if err != nil {
		return err
	}
	b.meta = meta
	b.metaOpen.Store(true)
	switch voters := meta.Conf().Voters; {
	case !b.cfg.Joining && !b.rejoining && !slices.Equal(voters, b.allVoters()):
		return errs.Newf(ErrInvalid, "the data directory %s belongs to a cluster whose initial brokers are %v, but the peers given are %v: start with the peers it was created with",
			b.cfg.DataDir, voters, b.allVoters())
	case b.cfg.Joining && slices.Contains(voters, uint64(b.cfg.NodeID)):
		return errs.Newf(ErrInvalid, "the data directory %s belongs to a cluster this broker started (its initial brokers are %v): join with an empty data directory",
			b.cfg.DataDir, voters)
	}
	if err := waitReady(ctx, meta); err != nil {
		return err
	}
	// NB: the catalog is the replayed metadata now, and nothing on disk
	// has been acted on yet.
	if b.cfg.JoinedClusterID != "" && b.catalog.ClusterID() != b.cfg.JoinedClusterID {
		return errs.Newf(ErrInvalid, "the data directory %s holds cluster %s, not the cluster %s joined: join with an empty data directory",
			b.cfg.DataDir, b.catalog.ClusterID(), b.cfg.JoinedClusterID)
	}

	if err := b.goLive(); err != nil {
		return err
	}
	for i := range b.offsetParts {
		part := int32(i)
		p, err := b.store.OpenPartition(fmt.Sprintf("%s-%d", offsets.Topic, i), b.internalGroup(b.applyOffsets,
			func() ([]byte, error) { return b.offsets.Snapshot(part) },
			func(data []byte) error { return b.offsets.Restore(part, data) }))
		if err != nil {
			return err
		}
		b.offsetParts[i] = p
	}
	for _, p := range b.offsetParts {
		if err := waitReady(ctx, p); err != nil {
			return err
		}
	}
	if b.catalog.ClusterID() == "" {
		return b.proposeMetadata(ctx, clusterCreated(newID()))
	}
	return nil
}

func waitReady(ctx context.Context, p *raftstore.Partition) error {
	select {
	case <-p.Ready():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("partition %s did not become ready: %w", p.Name(), ctx.Err())
	}
}

// goLive opens what the replayed catalog names; metadata changes applied
// from then on act on disk themselves.
func (b *Broker) goLive() error {
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	if err := b.openTopics(); err != nil {
		return err
	}
	b.live = true
	return nil
}

// openTopics opens the partitions of every topic in the replayed catalog
// and removes directories of partitions it does not name (a crash between
// a deletion's commit and its removal).
func (b *Broker) openTopics() error {
	known := map[string]bool{metadataPartition: true}
	for i := range offsets.Partitions {
		known[fmt.Sprintf("%s-%d", offsets.Topic, i)] = true
	}
	for _, t := range b.catalog.Topics() {
		if err := b.openPartitions(t); err != nil {
			return err
		}
		for p := range t.Partitions {
			if slices.Contains(t.Replicas(p), b.cfg.NodeID) {
				known[partitionName(t.Name, p)] = true
			}
		}
	}
	names, err := b.store.PartitionNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		if !known[name] {
			b.logger.Warn("removing partition of no known topic", "partition", name)
			if err := b.store.DeletePartition(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// openPartitions opens the partitions of t that this broker replicates
// or is being added to.
func (b *Broker) openPartitions(t *catalog.Topic) error {
	for p := range t.Partitions {
		if err := b.openPartition(t, p); err != nil {
			return err
		}
	}
	return nil
}

// openPartition opens partition p of t if this broker holds a replica of
// it or is about to. A partition that never moved starts with the
// replicas placement gave it, the preferred leader campaigning; one that
// moved, missing here, joins its running group (raftstore's Join).
func (b *Broker) openPartition(t *catalog.Topic, p int32) error {
	if !slices.Contains(t.Replicas(p), b.cfg.NodeID) {
		return nil
	}
	replicas := t.Assignments[p]
	voters := make([]uint64, len(replicas))
	for i, r := range replicas {
		voters[i] = uint64(r)
	}
	moved := t.HasMoved(p)
	_, err := b.store.OpenPartition(partitionName(t.Name, p), raftstore.PartitionConfig{
		Incarnation:    t.ID,
		SegmentBytes:   t.Config.SegmentBytes,
		SegmentMaxAge:  t.Config.SegmentAge,
		RetentionTime:  t.Config.Retention,
		RetentionBytes: t.Config.RetentionBytes,
		Voters:         voters,
		Join:           moved,
		// NB: only while opening what the replayed catalog names: a
		// topic created since is new everywhere.
		Rejoin:         b.rejoining && !b.live,
		Campaign:       !moved && replicas[0] == b.cfg.NodeID,
		ProducerExpiry: b.cfg.ProducerExpiry,
	})
	return err
}

func (b *Broker) deletePartitions(t *catalog.Topic) {
	for p := range t.Partitions {
		if err := b.store.DeletePartition(partitionName(t.Name, p)); err != nil {
			// Open removes it on the next start.
			b.logger.Error("delete partition", "topic", t.Name, "partition", p, "err", err)
		}
	}
}

// partitionName is the directory of a topic's partition, Kafka's naming.
func partitionName(topic string, p int32) string { return fmt.Sprintf("%s-%d", topic, p) }

// NB: these fail to compile unless the longest topic name, "-" and the
// largest partition number (4 digits) make a directory name raftstore
// takes (NAME_MAX).
var (
	_ [raftstore.MaxPartitionNameLength - (catalog.MaxTopicNameLength + len("-") + 4)]struct{}
	_ [10_000 - maxPartitions]struct{}
)

// NB: fails to compile unless a record of the largest max.message.bytes,
// with its length, the broker's timestamp and the batch header, makes an
// entry raft can replicate.
var _ [raftstore.MaxEntryBytes - (catalog.MaxRecordBytes + 10 + 15 + raftstore.BatchHeaderSize)]struct{}

// Close closes every partition; acknowledged data is already durable.
func (b *Broker) Close() error {
	close(b.closing)
	return b.store.Close()
}

// NodeID returns this broker's id.
func (b *Broker) NodeID() int32 { return b.cfg.NodeID }

// ClusterID returns the cluster's id.
func (b *Broker) ClusterID() string { return b.catalog.ClusterID() }

// ControllerID returns the leader of the metadata group.
func (b *Broker) ControllerID() int32 { return int32(b.meta.Leader()) }

// AdvertisedAddress returns the address clients reach this broker on.
func (b *Broker) AdvertisedAddress() string { return b.cfg.AdvertisedAddress }

// partition returns the open partition p of topic; a NotReplicatedError
// if this broker holds no copy of it.
func (b *Broker) partition(topic string, p int32) (*raftstore.Partition, *catalog.Topic, error) {
	t, err := b.catalog.Topic(topic)
	if err != nil {
		return nil, nil, err
	}
	if p < 0 || p >= t.Partitions {
		return nil, nil, errs.Newf(ErrInvalid, "partition %d does not exist: topic %q has partitions 0 to %d",
			p, topic, t.Partitions-1)
	}
	part := b.store.Partition(partitionName(topic, p))
	if part != nil {
		return part, t, nil
	}
	if !slices.Contains(t.Assignments[p], b.cfg.NodeID) {
		nr := &NotReplicatedError{Topic: topic, Partition: p}
		for _, id := range t.Assignments[p] {
			if m, ok := b.Member(id); ok {
				nr.Replicas = append(nr.Replicas, m)
			}
		}
		return nil, t, nr
	}
	return nil, nil, errs.Newf(ErrUnavailable, "topic %q partition %d is not open", topic, p)
}

// storeError turns raftstore errors into the broker's: a closed partition
// is a deleted topic if the catalog says so, else a broker going away; no
// leader is a NotLeaderError naming what this broker knows of the leader.
func (b *Broker) storeError(topic string, p int32, err error) error {
	switch {
	case errors.Is(err, raftstore.ErrClosed):
		if _, terr := b.catalog.Topic(topic); terr != nil {
			return terr
		}
		return errs.Newf(ErrUnavailable, "topic %q partition %d is closed on this broker (moved away, or the broker is shutting down): retry", topic, p)
	case errors.Is(err, raftstore.ErrNotLeader), errors.Is(err, raftstore.ErrLeaderChanged), errors.Is(err, raftstore.ErrProposalTimeout):
		nl := &NotLeaderError{Topic: topic, Partition: p, Err: err}
		if part := b.store.Partition(partitionName(topic, p)); part != nil {
			if m, ok := b.Member(int32(part.Leader())); ok {
				nl.Leader = m
			}
		}
		return nl
	}
	return err
}

// newID returns a random 128-bit id in UUID form.
func newID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// Collectors returns the store's metrics, for the server's registry.
func (b *Broker) Collectors() []prometheus.Collector { return b.store.Collectors() }
