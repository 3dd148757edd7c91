package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// topicInfo is what the sidecar needs of a topic to spool its records:
// the partition count (keyed records go where the broker would put them)
// and the record size limit (a record the cluster would refuse is refused
// before it is acknowledged, not dropped after).
type topicInfo struct {
	Partitions      int32     `json:"partitions"`
	MaxMessageBytes int       `json:"max_message_bytes"`
	Fetched         time.Time `json:"fetched"`
	// leaders is each partition's leader's client address ("": unknown).
	leaders []string
}

// defaultMaxMessageBytes is the broker's default max.message.bytes, used
// when a topic's configuration does not say.
const defaultMaxMessageBytes = 1 << 20

// metadata is the sidecar's view of the cluster's topics, kept in
// memory and in a file of its data directory, so that a sidecar that
// restarts while the cluster is unreachable still partitions as before.
type metadata struct {
	up     *upstream
	path   string
	maxAge time.Duration
	logger *slog.Logger

	mu        sync.Mutex // guards the fields below
	topics    map[string]*topicInfo
	nodes     map[int32]string // broker id → client address
	clusterID string
	// refreshing is the topics whose refresh is under way.
	refreshing map[string]bool
}

const metadataFile = "topics.json"

func openMetadata(up *upstream, dir string, maxAge time.Duration, logger *slog.Logger) (*metadata, error) {
	m := &metadata{up: up, path: filepath.Join(dir, metadataFile), maxAge: maxAge, logger: logger,
		topics: map[string]*topicInfo{}, nodes: map[int32]string{}, refreshing: map[string]bool{}}
	b, err := os.ReadFile(m.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return m, nil
	case err != nil:
		return nil, err
	}
	var saved savedMetadata
	if err := json.Unmarshal(b, &saved); err != nil {
		// NB: a cache: a damaged one is only forgotten.
		logger.Warn("sidecar: the saved topic metadata is unreadable, ignored", "file", m.path, "err", err)
		return m, nil
	}
	m.clusterID = saved.ClusterID
	for name, t := range saved.Topics {
		if t != nil && t.Partitions > 0 {
			t.leaders = make([]string, t.Partitions)
			m.topics[name] = t
		}
	}
	return m, nil
}

// savedMetadata is the metadata file's content.
type savedMetadata struct {
	ClusterID string                `json:"cluster_id"`
	Topics    map[string]*topicInfo `json:"topics"`
}

// topic returns what the sidecar knows of the topic: fetched when it
// knows nothing, else the known one, refreshed in the background when
// older than maxAge (a produce never waits for a cluster it cannot reach
// when it knows the topic). A topic the cluster says does not exist is
// NOT_FOUND.
func (m *metadata) topic(ctx context.Context, name string) (*topicInfo, error) {
	m.mu.Lock()
	t := m.topics[name]
	stale := t != nil && time.Since(t.Fetched) > m.maxAge && !m.refreshing[name]
	if stale {
		m.refreshing[name] = true
	}
	m.mu.Unlock()
	if t != nil {
		if stale {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				m.refresh(ctx, name)
			}()
		}
		return t, nil
	}
	return m.refresh(ctx, name)
}

// stale marks the topic's metadata old: the next topic call refreshes it.
func (m *metadata) stale(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.topics[name]; t != nil {
		t.Fetched = time.Time{}
	}
}

func (m *metadata) refresh(ctx context.Context, name string) (*topicInfo, error) {
	defer func() {
		m.mu.Lock()
		delete(m.refreshing, name)
		m.mu.Unlock()
	}()
	var resp *runnelv1.DescribeTopicResponse
	err := m.up.call(ctx, func(c *grpc.ClientConn) error {
		var err error
		resp, err = runnelv1.NewAdminServiceClient(c).DescribeTopic(ctx, &runnelv1.DescribeTopicRequest{Name: name})
		return err
	})
	if status.Code(err) == codes.NotFound {
		m.mu.Lock()
		delete(m.topics, name)
		m.mu.Unlock()
		m.save()
		return nil, err
	}
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated:
		// NB: the cluster's answer about the sidecar's principal: the
		// application's records would not be taken upstream either.
		return nil, err
	}
	if err != nil {
		m.mu.Lock()
		t := m.topics[name]
		m.mu.Unlock()
		if t != nil {
			return t, nil
		}
		return nil, status.Errorf(codes.Unavailable, "the sidecar has not seen topic %q yet and cannot reach the cluster to learn its partitions: %v", name, status.Convert(err).Message())
	}
	n := resp.GetTopic().GetPartitions()
	if n <= 0 {
		return nil, status.Errorf(codes.Unavailable, "topic %q: the cluster described %d partitions", name, n)
	}
	t := &topicInfo{Partitions: n, MaxMessageBytes: defaultMaxMessageBytes, Fetched: time.Now(), leaders: make([]string, n)}
	if v, err := strconv.Atoi(resp.GetTopic().GetConfig()["max.message.bytes"]); err == nil && v > 0 {
		t.MaxMessageBytes = v
	}
	m.mu.Lock()
	missing := false
	for _, p := range resp.Partitions {
		if p.Partition >= 0 && p.Partition < n {
			t.leaders[p.Partition] = m.nodes[p.Leader]
			missing = missing || (p.Leader != 0 && m.nodes[p.Leader] == "")
		}
	}
	m.mu.Unlock()
	if missing {
		if err := m.describeCluster(ctx); err == nil {
			m.mu.Lock()
			for _, p := range resp.Partitions {
				if p.Partition >= 0 && p.Partition < n {
					t.leaders[p.Partition] = m.nodes[p.Leader]
				}
			}
			m.mu.Unlock()
		}
	}
	m.mu.Lock()
	m.topics[name] = t
	m.mu.Unlock()
	m.save()
	return t, nil
}

// describeCluster learns the brokers' addresses and the cluster id.
func (m *metadata) describeCluster(ctx context.Context) error {
	var resp *runnelv1.DescribeClusterResponse
	err := m.up.call(ctx, func(c *grpc.ClientConn) error {
		var err error
		resp, err = runnelv1.NewAdminServiceClient(c).DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
		return err
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.clusterID = resp.ClusterId
	for _, b := range resp.Brokers {
		m.nodes[b.NodeId] = b.Address
	}
	m.mu.Unlock()
	m.save()
	return nil
}

// known returns what the sidecar knows of the topic, without asking.
func (m *metadata) known(name string) *topicInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.topics[name]
}

// cluster is the cluster id last described ("" before).
func (m *metadata) cluster() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.clusterID
}

// leader is the partition's leader's address as last described, "" when
// unknown.
func (m *metadata) leader(topic string, partition int32) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.topics[topic]; t != nil && int(partition) < len(t.leaders) {
		return t.leaders[partition]
	}
	return ""
}

// save writes the topics to the metadata file (a cache: written whole
// through a rename, not fsync'd).
func (m *metadata) save() {
	m.mu.Lock()
	b, err := json.Marshal(savedMetadata{ClusterID: m.clusterID, Topics: m.topics})
	m.mu.Unlock()
	if err == nil {
		tmp := m.path + ".tmp"
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, m.path)
		}
	}
	if err != nil {
		m.logger.Warn("sidecar: save topic metadata", "file", m.path, "err", fmt.Errorf("%w", err))
	}
}
