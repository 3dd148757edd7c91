package server

import (
	"strconv"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/runnel-broker/runnel/internal/buildinfo"
	"github.com/runnel-broker/runnel/server/internal/broker"
)

// Every metric a broker serves on /metrics is registered here, in one
// registry; docs/metrics.md lists them (name, type, labels, meaning), and
// deploy/grafana/runnel.json draws on them.

// edgeMetrics are measured by the services as calls pass.
type edgeMetrics struct {
	produceAck       *prometheus.HistogramVec
	producedRecords  *prometheus.CounterVec
	producedBytes    *prometheus.CounterVec
	consumedRecords  *prometheus.CounterVec
	consumedBytes    *prometheus.CounterVec
	forwardedCalls   *prometheus.CounterVec
	forwardedFailure *prometheus.CounterVec
	fencedCommits    prometheus.Counter
}

func newEdgeMetrics() *edgeMetrics {
	topic := []string{"topic"}
	return &edgeMetrics{
		produceAck: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "runnel_produce_ack_seconds",
			Help:    "From taking a produce request to knowing its acks (or its error), by the request's acks.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"acks"}),
		producedRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_produced_records_total",
			Help: "Records acknowledged to producers through this broker."}, topic),
		producedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_produced_bytes_total",
			Help: "Bytes of records (as producers encoded them) acknowledged through this broker."}, topic),
		consumedRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_consumed_records_total",
			Help: "Records sent to subscribers from this broker's replicas."}, topic),
		consumedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_consumed_bytes_total",
			Help: "Bytes of subscribe responses sent from this broker's replicas."}, topic),
		forwardedCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_forwarded_calls_total",
			Help: "Calls this broker made to another on a client's behalf: produce (per partition), subscribe (per partition relayed, or per group member stream relayed to its coordinator), commit (a group member's, to its coordinator)."},
			[]string{"call"}),
		forwardedFailure: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_forwarded_call_failures_total",
			Help: "Forwarded calls that no broker took."}, []string{"call"}),
		fencedCommits: prometheus.NewCounter(prometheus.CounterOpts{Name: "runnel_group_fenced_commits_total",
			Help: "Commits refused because the group member no longer held a partition it committed (FAILED_PRECONDITION)."}),
	}
}

func (m *edgeMetrics) collectors() []prometheus.Collector {
	// NB: each call's series exists from the start, at 0, so that a rate
	// over it is 0 rather than absent.
	for _, call := range []string{"produce", "subscribe", "commit"} {
		m.forwardedCalls.WithLabelValues(call)
		m.forwardedFailure.WithLabelValues(call)
	}
	for _, acks := range []string{"all", "leader"} {
		m.produceAck.WithLabelValues(acks)
	}
	return []prometheus.Collector{m.produceAck, m.producedRecords, m.producedBytes, m.consumedRecords, m.consumedBytes,
		m.forwardedCalls, m.forwardedFailure, m.fencedCommits}
}

// forgetTopic deletes a deleted topic's series, which would otherwise
// stay on /metrics until the broker restarts (and come back, counting
// from zero, under a new topic of the same name).
func (m *edgeMetrics) forgetTopic(name string) {
	labels := prometheus.Labels{"topic": name}
	for _, v := range []*prometheus.CounterVec{m.producedRecords, m.producedBytes, m.consumedRecords, m.consumedBytes} {
		v.DeletePartialMatch(labels)
	}
}

// newRegistry gathers the Go runtime's and the process's metrics, gRPC's
// (calls by method and code, handling time), the store's, the broker's
// partitions and cluster as a scrape finds them, the memory budget, the
// edge's own and the build.
func (s *Server) newRegistry(grpcMetrics *grpcprom.ServerMetrics) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), grpcMetrics)
	r.MustRegister(s.broker.Collectors()...)
	r.MustRegister(s.metrics.collectors()...)
	r.MustRegister(s.guard.denied)
	r.MustRegister(s.quotas.collectors()...)
	r.MustRegister(s.reloadGauges()...)
	r.MustRegister(brokerCollector{s.broker}, buildInfoGauge(buildinfo.Read()),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "runnel_inflight_bytes",
			Help: "Bytes of the memory budget (--max-inflight-bytes) that streams hold."},
			func() float64 { return float64(s.budget.held.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "runnel_inflight_budget_bytes",
			Help: "The memory budget for streams (--max-inflight-bytes)."},
			func() float64 { return float64(s.budget.size) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "runnel_inflight_waiting_streams",
			Help: "Streams waiting for the memory budget to free."},
			func() float64 { return float64(s.budget.waiting.Load()) }),
	)
	return r
}

// reloadGauges are runnel_last_reload_successful, one per flag whose
// files (or URL) the broker reads again while it runs: 1 while what it
// uses is their current content, 0 while they do not load and it keeps
// the last good one (a certificate half rotated, a token file that no
// longer parses, and so a token removed from it not revoked yet). A
// scrape looks at the files, as a handshake or a call does.
func (s *Server) reloadGauges() []prometheus.Collector {
	type watched struct {
		flag  string
		check func() error
	}
	var all []watched
	if t := s.tls; t != nil {
		all = append(all, watched{"tls-cert", t.pair.Check})
		if t.clientCAs != nil {
			all = append(all, watched{"tls-client-ca", t.clientCAs.Check})
		}
		if t.peerCAs != nil && t.peerCAs != t.clientCAs {
			all = append(all, watched{"tls-peer-ca", t.peerCAs.Check})
		}
	}
	if s.guard.tokens != nil {
		all = append(all, watched{"token-file", s.guard.tokens.Check})
	}
	if s.guard.jwts != nil {
		flag := "jwt-jwks-file"
		if s.cfg.JWKSURL != "" {
			flag = "jwt-jwks-url"
		}
		all = append(all, watched{flag, s.guard.jwts.Check})
	}
	var out []prometheus.Collector
	for _, w := range all {
		out = append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "runnel_last_reload_successful",
			Help:        "1 while the broker uses the current content of a flag's files (or URL), 0 while they do not load and it keeps the last good content.",
			ConstLabels: prometheus.Labels{"flag": w.flag}},
			func() float64 {
				if w.check() != nil {
					return 0
				}
				return 1
			}))
	}
	return out
}

// buildInfoGauge is runnel_build_info, always 1: its labels say which
// build runs, as go_build_info does for Go programs, so that a query can
// join them onto other series.
func buildInfoGauge(info buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "runnel_build_info",
		Help:        "The build of Runnel running: its version, VCS commit (empty when unknown) and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": info.Version, "revision": info.Revision, "goversion": info.GoVersion}})
	g.Set(1)
	return g
}

// brokerCollector reports the broker's partitions and cluster as a scrape
// finds them: nothing is counted on the hot paths for these.
type brokerCollector struct{ b *broker.Broker }

var (
	partLabels = []string{"topic", "partition"}

	descHighWatermark = prometheus.NewDesc("runnel_partition_high_watermark",
		"The offset the next committed record gets, as this replica knows it.", partLabels, nil)
	descLogStart = prometheus.NewDesc("runnel_partition_log_start_offset",
		"The first offset retention kept on this replica.", partLabels, nil)
	descSize = prometheus.NewDesc("runnel_partition_size_bytes",
		"Bytes of this replica's segments.", partLabels, nil)
	descLeader = prometheus.NewDesc("runnel_partition_leader",
		"The broker this replica knows as leader (0: none).", partLabels, nil)
	descLeaderEpoch = prometheus.NewDesc("runnel_partition_leader_epoch",
		"The raft term this replica is in: the leader's epoch when it knows one.", partLabels, nil)
	descIsLeader = prometheus.NewDesc("runnel_partition_is_leader",
		"1 when this broker leads the partition.", partLabels, nil)
	descReplicas = prometheus.NewDesc("runnel_partition_replicas",
		"Voters of the partition's raft group.", partLabels, nil)
	descInSync = prometheus.NewDesc("runnel_partition_in_sync_replicas",
		"Replicas in sync, reported by the leader only.", partLabels, nil)
	descUnderReplicated = prometheus.NewDesc("runnel_partition_under_replicated",
		"1 when fewer replicas are in sync than the group has, reported by the leader only.", partLabels, nil)

	descPartitions = prometheus.NewDesc("runnel_partitions",
		"Partitions replicated here by this replica's role: leader, follower (a leader known elsewhere), leaderless, failed.",
		[]string{"role"}, nil)
	descUnderReplicatedTotal = prometheus.NewDesc("runnel_under_replicated_partitions",
		"Partitions led here with fewer replicas in sync than voters (Kafka's UnderReplicatedPartitions).", nil, nil)
	descController = prometheus.NewDesc("runnel_controller",
		"1 on the broker that leads the metadata group.", nil, nil)
	descGroupMembers = prometheus.NewDesc("runnel_group_members",
		"Members of a consumer group this broker coordinates, connected or within their session timeout.", []string{"group"}, nil)
	descGroupRebalances = prometheus.NewDesc("runnel_group_rebalances_total",
		"Rebalances of a group this broker coordinates (its group epoch: it starts again at 0 when another broker takes the group).",
		[]string{"group"}, nil)
	descGroupLag = prometheus.NewDesc("runnel_group_lag",
		"Records a consumer group's committed offset is behind the high watermark, by partition; reported by the partition's leader.",
		[]string{"group", "topic", "partition"}, nil)
	descBrokers = prometheus.NewDesc("runnel_cluster_brokers",
		"Brokers of the cluster by state as the controller sees them (reported by the controller only).", []string{"state"}, nil)
)

func (brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHighWatermark, descLogStart, descSize, descLeader, descLeaderEpoch, descIsLeader,
		descReplicas, descInSync, descUnderReplicated, descPartitions, descUnderReplicatedTotal, descController, descBrokers,
		descGroupMembers, descGroupRebalances, descGroupLag} {
		ch <- d
	}
}

func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	roles := map[string]int{"leader": 0, "follower": 0, "leaderless": 0, "failed": 0}
	under := 0
	for _, p := range c.b.LocalPartitions() {
		l := []string{p.Topic, strconv.Itoa(int(p.Partition))}
		gauge(descHighWatermark, float64(p.HighWatermark), l...)
		gauge(descLogStart, float64(p.LogStartOffset), l...)
		gauge(descSize, float64(p.SizeBytes), l...)
		gauge(descLeader, float64(p.Leader), l...)
		gauge(descLeaderEpoch, float64(p.LeaderEpoch), l...)
		gauge(descIsLeader, boolValue(p.Leads), l...)
		gauge(descReplicas, float64(p.Replicas), l...)
		switch {
		case p.Failed:
			roles["failed"]++
		case p.Leads:
			roles["leader"]++
			gauge(descInSync, float64(p.InSync), l...)
			gauge(descUnderReplicated, boolValue(p.InSync < p.Replicas), l...)
			if p.InSync < p.Replicas {
				under++
			}
		case p.Leader != 0:
			roles["follower"]++
		default:
			roles["leaderless"]++
		}
	}
	for role, n := range roles {
		gauge(descPartitions, float64(n), role)
	}
	gauge(descUnderReplicatedTotal, float64(under))
	gauge(descController, boolValue(c.b.ControllerID() == c.b.NodeID()))
	for _, g := range c.b.GroupStats() {
		gauge(descGroupMembers, float64(g.Members), g.Name)
		ch <- prometheus.MustNewConstMetric(descGroupRebalances, prometheus.CounterValue, float64(g.Epoch), g.Name)
	}
	for _, l := range c.b.GroupLags() {
		gauge(descGroupLag, float64(l.Lag), l.Group, l.Topic, strconv.Itoa(int(l.Partition)))
	}
	if states := c.b.BrokerStates(); states != nil {
		online := 0
		for _, up := range states {
			if up {
				online++
			}
		}
		gauge(descBrokers, float64(online), "online")
		gauge(descBrokers, float64(len(states)-online), "unreachable")
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
