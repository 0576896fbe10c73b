package relay

import (
	"context"
	"math"
	"sync"
	"time"

	"dicomgate/audit"
	"dicomgate/transport"
)

// clockSkewThreshold is how far an agent's clock may be off the relay's
// before the relay audits agent.clock_skew (once per episode: until the
// agent's clock is back within the threshold) and counts the agent in
// dicomgate_relay_agents_clock_skewed. The relay's own clock stays the
// authority: commit times, receipts and audit times are the relay's.
const clockSkewThreshold = 2 * time.Minute

// skewMap keeps, in memory, which agents reporting to this relay have a
// skewed clock, by agent ID.
type skewMap struct {
	mu sync.Mutex
	// +checklocks:mu
	m map[string]skewState
}

type skewState struct {
	project string
	skewed  bool
}

// put records agent id's latest state; it reports whether an episode
// begins (the agent was not skewed, or unknown, before) and returns the
// skewed agents per project.
func (sm *skewMap) put(id, project string, skewed bool) (begins bool, byProject map[string]int) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.m == nil {
		sm.m = map[string]skewState{}
	}
	begins = skewed && !sm.m[id].skewed
	sm.m[id] = skewState{project: project, skewed: skewed}
	byProject = map[string]int{project: 0}
	for _, st := range sm.m {
		if st.skewed {
			byProject[st.project]++
		}
	}
	return begins, byProject
}

// agentClock is the transport's OnClock hook: it measures the agent's
// clock against the relay's, audits agent.clock_skew when an episode
// begins and updates the metrics.
func (s *Server) agentClock(ctx context.Context, peer transport.Peer, agentTime, relayTime time.Time) {
	a, err := s.enrolledAgent(ctx, peer.AgentID, peer.Certificate)
	if err != nil {
		return
	}
	skew := agentTime.Sub(relayTime)
	abs := time.Duration(math.Abs(float64(skew)))
	s.mon.clockSkew.Observe(abs.Seconds())
	begins, byProject := s.skews.put(a.ID, a.Project, abs > clockSkewThreshold)
	for p, n := range byProject {
		s.mon.skewed.WithLabelValues(p).Set(float64(n))
	}
	if !begins {
		return
	}
	s.log.Warn().Str("agent_id", a.ID).Dur("skew", skew.Round(time.Second)).Msg("agent clock skewed")
	s.record(ctx, audit.Event{Actor: a.ID, Action: audit.ActionAgentClockSkew, Project: a.Project, Object: a.ID,
		IP: peer.RemoteAddr.String(), Reason: "agent clock off the relay's by more than " + clockSkewThreshold.String(),
		Details: map[string]any{"site": a.Site, "skew_seconds": math.Round(skew.Seconds()),
			"agent_time": agentTime.UTC().Format(time.RFC3339Nano), "relay_time": relayTime.UTC().Format(time.RFC3339Nano)}})
}
