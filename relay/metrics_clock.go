package relay

import (
	"github.com/prometheus/client_golang/prometheus"

	"dicomgate/transport"
)

// addClockMetrics creates and registers the metrics of refused
// handshakes, agent clocks and certificate renewals.
func (m *monitor) addClockMetrics() {
	m.refusedHS = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dicomgate_relay_handshakes_refused_total",
		Help: "Agent certificates refused at the handshake (every one, audited or not), by reason.",
	}, []string{"reason"})
	m.clockSkew = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dicomgate_relay_agent_clock_skew_seconds",
		Help:    "Absolute difference between an agent's clock and the relay's, per clock exchange.",
		Buckets: []float64{1, 10, 60, 300, 3600, 6 * 3600, 86400, 7 * 86400},
	})
	m.skewed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dicomgate_relay_agents_clock_skewed",
		Help: "Agents whose latest clock exchange with this relay was off by more than the threshold, by project.",
	}, []string{"project"})
	m.renewed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dicomgate_relay_agent_certs_renewed_total",
		Help: "Agent certificates renewed.",
	})
	m.reg.MustRegister(m.refusedHS, m.clockSkew, m.skewed, m.renewed)
}

// handshakeRefused counts a refused handshake. Reasons outside the
// transport's fixed set are counted as "other", so a label never carries
// free text.
func (m *monitor) handshakeRefused(reason string) {
	switch reason {
	case transport.RefusedExpired, transport.RefusedNotYetValid, transport.RefusedUnknownCA,
		transport.RefusedBadCertificate, transport.RefusedRevoked, transport.RefusedUnknownAgent,
		transport.RefusedNotAuthorized:
	default:
		reason = "other"
	}
	m.refusedHS.WithLabelValues(reason).Inc()
}
