package sidecar

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the sidecar's own (runnel_sidecar_*), beside the gRPC
// server's and the Go runtime's.
type metrics struct {
	spooled          prometheus.Counter
	forwardedRecords prometheus.Counter
	forwardedBytes   prometheus.Counter
	refused          *prometheus.CounterVec
	upstreamErrors   *prometheus.CounterVec
	dropped          *prometheus.CounterVec
	// subscriptionsResumed counts subscriptions carried on after their
	// upstream stream broke.
	subscriptionsResumed prometheus.Counter
}

func newMetrics(s *Sidecar, r *prometheus.Registry) *metrics {
	m := &metrics{
		spooled: prometheus.NewCounter(prometheus.CounterOpts{Name: "runnel_sidecar_spooled_records_total",
			Help: "Records the sidecar took into its spool (and acknowledged, unless end to end)."}),
		forwardedRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "runnel_sidecar_forwarded_records_total",
			Help: "Spooled records the cluster acknowledged."}),
		forwardedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "runnel_sidecar_forwarded_bytes_total",
			Help: "Bytes of spooled batches the cluster acknowledged."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_sidecar_produce_refused_total",
			Help: "Produce requests the sidecar answered with an error, by code (RESOURCE_EXHAUSTED: the spool was full)."}, []string{"code"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_sidecar_upstream_errors_total",
			Help: "Failures talking to the cluster (forwarding sessions and relayed calls), by code."}, []string{"code"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "runnel_sidecar_dropped_records_total",
			Help: "Spooled records the cluster refused for good (topic deleted, record refused), by code: acknowledged and lost."}, []string{"code"}),
		subscriptionsResumed: prometheus.NewCounter(prometheus.CounterOpts{Name: "runnel_sidecar_subscriptions_resumed_total",
			Help: "Times a subscription's upstream stream broke and the sidecar carried it on from another (or the same) broker."}),
	}
	r.MustRegister(m.spooled, m.forwardedRecords, m.forwardedBytes, m.refused, m.upstreamErrors, m.dropped, m.subscriptionsResumed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "runnel_sidecar_spool_bytes", Help: "Bytes the spool's segments take on disk."},
			func() float64 { return float64(s.spool.Used()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "runnel_sidecar_spool_limit_bytes", Help: "The spool's bound (--spool-bytes)."},
			func() float64 { return float64(s.spool.MaxBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "runnel_sidecar_records_waiting", Help: "Spooled records the cluster has not acknowledged yet."},
			func() float64 { return float64(s.status().RecordsWaiting) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "runnel_sidecar_oldest_waiting_seconds", Help: "How long the oldest record not yet forwarded has waited (0: none waits)."},
			func() float64 { return s.status().OldestWaitingSeconds }),
	)
	return m
}

// Status is the sidecar's backlog, as /status serves it.
type Status struct {
	Upstream             []string          `json:"upstream"`
	SpoolBytes           int64             `json:"spool_bytes"`
	SpoolLimitBytes      int64             `json:"spool_limit_bytes"`
	RecordsWaiting       int64             `json:"records_waiting"`
	OldestWaitingSeconds float64           `json:"oldest_waiting_seconds"`
	Partitions           []PartitionStatus `json:"partitions"`
}

// PartitionStatus is one partition's queue.
type PartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Spooled is the records taken (the queue's next offset), Forwarded
	// those the cluster acknowledged.
	Spooled              int64   `json:"spooled"`
	Forwarded            int64   `json:"forwarded"`
	Waiting              int64   `json:"waiting"`
	Bytes                int64   `json:"bytes"`
	OldestWaitingSeconds float64 `json:"oldest_waiting_seconds"`
	LastError            string  `json:"last_error,omitempty"`
}

func (s *Sidecar) status() Status {
	st := Status{Upstream: s.cfg.Upstream, SpoolBytes: s.spool.Used(), SpoolLimitBytes: s.spool.MaxBytes(), Partitions: []PartitionStatus{}}
	now := time.Now().UnixMilli()
	for _, q := range s.spool.Queues() {
		qs := q.Stats()
		ps := PartitionStatus{Topic: q.Topic, Partition: q.Partition, Spooled: qs.Next, Forwarded: qs.Cursor.Offset,
			Waiting: qs.Next - qs.Cursor.Offset, Bytes: qs.Bytes}
		if f := s.forwarderOf(q); f != nil {
			if o := f.oldest.Load(); o > 0 && ps.Waiting > 0 {
				ps.OldestWaitingSeconds = float64(max(now-o, 0)) / 1000
			}
			if e := f.lastErr.Load(); e != nil && ps.Waiting > 0 {
				ps.LastError = *e
			}
		}
		st.RecordsWaiting += ps.Waiting
		st.OldestWaitingSeconds = max(st.OldestWaitingSeconds, ps.OldestWaitingSeconds)
		st.Partitions = append(st.Partitions, ps)
	}
	return st
}
