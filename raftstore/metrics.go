package raftstore

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's own measures of its raft groups and its disk,
// shared by every partition. The server registers them with the rest
// (Store.Collectors); docs/metrics.md lists them. None has a per-partition
// label: the server's scrape-time collector reports partitions.
type metrics struct {
	fsyncSeconds      prometheus.Histogram
	syncRoundRequests prometheus.Histogram
	commitSeconds     *prometheus.HistogramVec
	leaderChanges     prometheus.Counter
	duplicates        prometheus.Counter
	proposalsInFlight atomic.Int64
}

func newMetrics() *metrics {
	return &metrics{
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "runnel_storage_fsync_seconds",
			Help: "Duration of a group-commit round: the fdatasync of every log with appends waiting, in parallel.",
			// 100 µs to ~1.6 s.
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 15),
		}),
		syncRoundRequests: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "runnel_storage_sync_round_requests",
			Help:    "Append runs made durable by one group-commit round: how many batches share an fsync.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		commitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "runnel_raft_commit_seconds",
			Help:    "From proposing a batch to its completion: committed and applied (quorum), or durable on the leader (leader).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"durability"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_raft_leader_changes_total",
			Help: "Times a partition replicated here saw its leader change (including to none).",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_produce_duplicates_total",
			Help: "Retries of an idempotent producer's batch that a partition led here already held: acknowledged with its offsets, not appended again.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.fsyncSeconds, m.syncRoundRequests, m.commitSeconds, m.leaderChanges, m.duplicates,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_raft_proposals_in_flight",
			Help: "Batches proposed to raft here and not yet completed, across partitions.",
		}, func() float64 { return float64(m.proposalsInFlight.Load()) }),
	}
}

func (d Durability) label() string {
	if d == LeaderOnly {
		return "leader"
	}
	return "quorum"
}

// Collectors returns the store's metrics, for the caller's registry.
func (s *Store) Collectors() []prometheus.Collector {
	return append(s.metrics.collectors(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_storage_mapped_sealed_segments",
			Help: "Sealed segments whose files are mapped now (bounded by the store's OpenSealedSegments).",
		}, func() float64 { return float64(s.segments.Mapped()) }))
}

// observeCommit records a proposal completed successfully.
func (m *metrics) observeCommit(prop *proposal) {
	m.commitSeconds.WithLabelValues(prop.durability.label()).Observe(time.Since(prop.proposed).Seconds())
}
