package relay

import "github.com/prometheus/client_golang/prometheus"

// Where the relay held an upload between its first byte and its commit
// (the label of dicomgate_relay_uploads_received_total).
const (
	heldMemory = "memory" // in memory (staging.memory_file_limit)
	heldFile   = "file"   // in a staging file
	heldStream = "stream" // sent to the object store in parts as it arrived
)

// addStagingMetrics registers the staging metrics of a relay whose memory
// staging is mem.
func (m *monitor) addStagingMetrics(mem *memStaging) {
	m.held = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dicomgate_relay_uploads_received_total",
		Help: "Uploads (and resumed uploads) received, by where the relay held them before their commit: memory, file (staging folder) or stream (to the object store as they arrived).",
	}, []string{"held"})
	for _, h := range []string{heldMemory, heldFile, heldStream} {
		m.held.WithLabelValues(h)
	}
	memUsed := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dicomgate_relay_staging_memory_bytes",
		Help: "Bytes of staging.memory_budget held now by uploads received in memory and the parts of streamed uploads.",
	}, func() float64 { return float64(mem.used.Load()) })
	m.reg.MustRegister(m.held, memUsed)
}

// received counts an upload held as held (heldMemory, heldFile, heldStream).
func (m *monitor) received(held string) { m.held.WithLabelValues(held).Inc() }
