package agent

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Results of dicomgate_agent_files_total.
const (
	resultCommitted   = "committed"
	resultQuarantined = "quarantined"
	resultRetried     = "retried"
)

// Metrics holds the agent's Prometheus metrics in a registry of its own
// (never the global default registry). Counters are incremented by the
// [Pipeline]; the queue gauges are read from the [Queue] at scrape time.
// No label carries a UID, path or name: labels are state and result only.
// A nil *Metrics is valid and records nothing.
type Metrics struct {
	reg       *prometheus.Registry
	files     *prometheus.CounterVec
	bytesSent prometheus.Counter
	upload    prometheus.Histogram
	queue     *queueCollector
	full      *prometheus.GaugeVec

	// lastOK and lastFail are the UnixNano times of the latest upload
	// attempt that reached the relay and of the latest one that did not.
	lastOK, lastFail atomic.Int64
}

// NewMetrics returns the metrics of an agent whose queue is q; the queue
// counts as stuck once its oldest waiting item is older than stuckAfter.
func NewMetrics(q *Queue, stuckAfter time.Duration) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dicomgate_agent_files_total",
			Help: "Files finished or retried by the pipeline, by result (committed, quarantined, retried).",
		}, []string{"result"}),
		bytesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dicomgate_agent_bytes_sent_total",
			Help: "Bytes of sealed files the relay acknowledged with a receipt.",
		}),
		upload: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dicomgate_agent_upload_seconds",
			Help:    "Duration of successful uploads of one sealed file, offer to receipt.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}),
		queue: newQueueCollector(q, stuckAfter),
		full: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dicomgate_agent_storage_full",
			Help: "1 while work waits because a disk is full: disk=\"agent\" (the agent's spool or queue) or disk=\"relay\" (the relay refuses uploads for lack of storage).",
		}, []string{"disk"}),
	}
	for _, r := range []string{resultCommitted, resultQuarantined, resultRetried} {
		m.files.WithLabelValues(r)
	}
	for _, d := range []string{diskAgent, diskRelay} {
		m.full.WithLabelValues(d)
	}
	m.reg.MustRegister(m.files, m.bytesSent, m.upload, m.queue, m.full,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry holding every agent metric.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// QueueStatus reads the queue's state counts, the age of its oldest
// waiting item and whether that age exceeds the stuck threshold.
func (m *Metrics) QueueStatus(ctx context.Context) (QueueStatus, error) {
	return m.queue.status(ctx)
}

// uploaded records an upload attempt of size bytes that took d: reached
// tells whether the relay answered (a receipt or a refusal).
func (m *Metrics) uploaded(size int64, d time.Duration, ok, reached bool) {
	if m == nil {
		return
	}
	now := time.Now().UnixNano()
	if reached {
		m.lastOK.Store(now)
	} else {
		m.lastFail.Store(now)
	}
	if ok {
		m.bytesSent.Add(float64(size))
		m.upload.Observe(d.Seconds())
	}
}

// storageFull sets the storage-full gauge of disk.
func (m *Metrics) storageFull(disk string, full bool) {
	if m == nil {
		return
	}
	v := 0.0
	if full {
		v = 1
	}
	m.full.WithLabelValues(disk).Set(v)
}

// file counts one file with result.
func (m *Metrics) file(result string) {
	if m != nil {
		m.files.WithLabelValues(result).Inc()
	}
}

// relayReachable reports whether the relay answered recently: true unless
// the latest upload attempt failed to reach it and no attempt reached it
// within grace. An agent that has not uploaded yet counts as reachable.
func (m *Metrics) relayReachable(now time.Time, grace time.Duration) bool {
	ok, fail := m.lastOK.Load(), m.lastFail.Load()
	if fail == 0 || ok > fail {
		return true
	}
	return ok != 0 && now.Sub(time.Unix(0, ok)) < grace
}
