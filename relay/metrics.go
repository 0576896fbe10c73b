package relay

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"dicomgate/transport"
)

// agentSeenWindow is how recently an agent must have offered a file to
// count in dicomgate_relay_connected_agents. The transport does not expose
// its connections, so "connected" means "seen in this window" by this
// relay; with several relays each reports the agents it served.
const agentSeenWindow = 5 * time.Minute

// monitor holds a relay's metrics, in a registry of its own (never the
// global default registry), and its FHIR writer. Labels are project and
// refusal code only: never a UID, file ID, agent ID or path.
type monitor struct {
	reg       *prometheus.Registry
	committed *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	bytes     prometheus.Counter
	commit    prometheus.Histogram
	inFlight  prometheus.Gauge
	fhirFails prometheus.Counter
	stuck     *prometheus.GaugeVec

	// Handshakes, clocks and certificates (metrics_clock.go).
	refusedHS *prometheus.CounterVec
	clockSkew prometheus.Histogram
	skewed    *prometheus.GaugeVec
	renewed   prometheus.Counter

	storageFull  prometheus.Gauge   // set by fullStorage (storagefull.go)
	fullRefusals prometheus.Counter // uploads refused for it
	agentsFull   *prometheus.GaugeVec

	held *prometheus.CounterVec // uploads by where they were held (metrics_staging.go)

	fhir *fhirWriter

	mu sync.Mutex
	// +checklocks:mu
	seen map[string]time.Time // agent ID -> last offer
}

// newMonitor returns the metrics of one relay; projects are the configured
// project IDs, whose counters start at zero.
func newMonitor(projects []ProjectConfig) *monitor {
	m := &monitor{
		reg: prometheus.NewRegistry(),
		committed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dicomgate_relay_files_committed_total",
			Help: "Files newly committed to the object store, by project.",
		}, []string{"project"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dicomgate_relay_files_rejected_total",
			Help: "Uploads refused, by refusal code.",
		}, []string{"code"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dicomgate_relay_bytes_committed_total",
			Help: "Bytes of sealed files newly committed.",
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dicomgate_relay_commit_seconds",
			Help:    "Duration of a successful commit: object, manifest and metadata record.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dicomgate_relay_uploads_in_flight",
			Help: "Uploads being received (staged, verified or committed) now.",
		}),
		fhirFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dicomgate_relay_imagingstudy_write_failures_total",
			Help: "Failed writes of a study's FHIR ImagingStudy object.",
		}),
		stuck: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dicomgate_relay_agents_stuck",
			Help: "Agents whose latest status to this relay reports a stuck queue, by project.",
		}, []string{"project"}),
		storageFull: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dicomgate_relay_storage_full",
			Help: "1 while the relay refuses uploads because its staging folder, object store or database is full (until the next file is committed).",
		}),
		fullRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dicomgate_relay_storage_full_refusals_total",
			Help: "Uploads refused (for a retry) because the relay's storage was full.",
		}),
		agentsFull: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dicomgate_relay_agents_storage_full",
			Help: "Agents whose latest status to this relay reports their own disk full, by project.",
		}, []string{"project"}),
		fhir: newFHIRWriter(),
		seen: map[string]time.Time{},
	}
	m.addClockMetrics()
	for _, p := range projects {
		m.committed.WithLabelValues(p.ID)
		m.stuck.WithLabelValues(p.ID)
		m.skewed.WithLabelValues(p.ID)
		m.agentsFull.WithLabelValues(p.ID)
	}
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dicomgate_relay_connected_agents",
		Help: "Agents that offered a file to this relay in the last 5 minutes.",
	}, func() float64 { return float64(m.connectedAgents(time.Now())) })
	m.reg.MustRegister(m.committed, m.rejected, m.bytes, m.commit, m.inFlight, m.fhirFails, m.stuck, connected,
		m.storageFull, m.fullRefusals, m.agentsFull,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// agentSeen notes an offer from agent id.
func (m *monitor) agentSeen(id string) {
	if id == "" {
		return
	}
	m.mu.Lock()
	m.seen[id] = time.Now()
	m.mu.Unlock()
}

// connectedAgents counts the agents seen within agentSeenWindow of now and
// forgets the others.
func (m *monitor) connectedAgents(now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, t := range m.seen {
		if now.Sub(t) > agentSeenWindow {
			delete(m.seen, id)
		}
	}
	return len(m.seen)
}

// setStuck sets dicomgate_relay_agents_stuck from the stuck agents per
// project (a project with reporting agents but none stuck maps to 0).
func (m *monitor) setStuck(byProject map[string]int) {
	for p, n := range byProject {
		m.stuck.WithLabelValues(p).Set(float64(n))
	}
}

// setAgentsFull sets dicomgate_relay_agents_storage_full from the agents
// reporting a full disk per project.
func (m *monitor) setAgentsFull(byProject map[string]int) {
	for p, n := range byProject {
		m.agentsFull.WithLabelValues(p).Set(float64(n))
	}
}

// uploading counts an upload in flight from agent id until the returned
// function is called.
func (m *monitor) uploading(id string) func() {
	m.agentSeen(id)
	m.inFlight.Inc()
	return m.inFlight.Dec
}

// refused counts a refusal. Codes outside the protocol's fixed set are
// counted as "other", so a label never carries free text.
func (m *monitor) refused(code string) {
	switch code {
	case CodeBadManifest, CodePolicyNotApproved, CodeConflict, CodeBadIdentifier,
		transport.CodeInternal, transport.CodeUnavailable, transport.CodeUnauthenticated,
		transport.CodeBadRequest, transport.CodeFrameTooLarge, transport.CodeUnsupportedVersion,
		transport.CodeSizeMismatch, transport.CodeHashMismatch, transport.CodeForbidden:
	default:
		code = "other"
	}
	m.rejected.WithLabelValues(code).Inc()
}
