package agent

import (
	"fmt"
	"net"
	"time"
)

// DefaultStuckAfter is the default of [MonitorConfig.StuckAfter].
const DefaultStuckAfter = 15 * time.Minute

// MonitorConfig configures the agent's monitoring endpoint. It is inlined
// in [Config]: its keys sit at the top level of agent.yaml.
type MonitorConfig struct {
	// MetricsListen is the host:port of a plain-HTTP endpoint serving
	// /metrics (Prometheus text format), /healthz, /readyz and /status.
	// It has no authentication and exposes no PHI (no UID, path or name;
	// labels are state and result only), but keep it on 127.0.0.1 or a
	// management network. Default: "" (off); e.g. "127.0.0.1:9464".
	MetricsListen string `yaml:"metrics_listen"`

	// StuckAfter is how long the oldest waiting item (any state but
	// committed and quarantined) may wait before the queue counts as
	// stuck: dicomgate_agent_queue_stuck is 1, /status says so and a
	// warning is logged once. Default: 0, meaning [DefaultStuckAfter]
	// (15m).
	StuckAfter time.Duration `yaml:"stuck_after"`
}

// stuckAfter returns StuckAfter, or its default when zero.
func (c *MonitorConfig) stuckAfter() time.Duration {
	if c.StuckAfter <= 0 {
		return DefaultStuckAfter
	}
	return c.StuckAfter
}

// validate returns every problem of c.
func (c *MonitorConfig) validate() []error {
	var probs []error
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			probs = append(probs, fmt.Errorf("metrics_listen: %q is not host:port", c.MetricsListen))
		}
	}
	if c.StuckAfter < 0 {
		probs = append(probs, fmt.Errorf("stuck_after: %s is negative", c.StuckAfter))
	}
	return probs
}
