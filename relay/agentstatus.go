package relay

import (
	"cmp"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"dicomgate/audit"
	"dicomgate/transport"
)

// agentSilentAfter is how long an agent may go without reporting its
// queue status before the dashboard lists it as not heard from.
const agentSilentAfter = 5 * time.Minute

// maxStatusStates bounds the state counts of one status report.
const maxStatusStates = 32

// agentHealth is the latest queue status an agent reported to this relay.
type agentHealth struct {
	Project, Site, Agent string
	Status               transport.AgentStatus
	Received             time.Time // when this relay received it
}

// agentHealthMap keeps the latest status of each agent in memory only: a
// restarted relay starts empty. With several relays, each shows the agents
// that report to it.
type agentHealthMap struct {
	mu sync.Mutex
	// +checklocks:mu
	m map[string]agentHealth // agent ID -> latest status
}

// put stores h and tells whether the agent just became stuck (it was not
// stuck, or unknown, before). It returns the stuck agents per project.
func (hm *agentHealthMap) put(h agentHealth) (becameStuck bool, stuck map[string]int) {
	hm.mu.Lock()
	defer hm.mu.Unlock()
	if hm.m == nil {
		hm.m = map[string]agentHealth{}
	}
	prev, ok := hm.m[h.Agent]
	becameStuck = h.Status.Stuck && (!ok || !prev.Status.Stuck)
	hm.m[h.Agent] = h
	stuck = map[string]int{}
	for _, a := range hm.m {
		n := stuck[a.Project]
		if a.Status.Stuck {
			n++
		}
		stuck[a.Project] = n
	}
	return becameStuck, stuck
}

// list returns the statuses of the agents of projects, by project and
// agent.
func (hm *agentHealthMap) list(projects []string) []agentHealth {
	hm.mu.Lock()
	defer hm.mu.Unlock()
	var out []agentHealth
	for _, h := range hm.m {
		if slices.Contains(projects, h.Project) {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(x, y agentHealth) int {
		return cmp.Or(cmp.Compare(x.Project, y.Project), cmp.Compare(x.Agent, y.Agent))
	})
	return out
}

// handleAgentStatus stores the calling agent's queue status, audits
// agent.stuck when its queue becomes stuck and updates
// dicomgate_relay_agents_stuck.
func (s *Server) handleAgentStatus(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requestAgent(w, r)
	if !ok {
		return
	}
	var st transport.AgentStatus
	if !decodeBody(w, r, &st) {
		return
	}
	if len(st.Counts) > maxStatusStates || st.OldestWaitingSeconds < 0 ||
		math.IsNaN(st.OldestWaitingSeconds) || math.IsInf(st.OldestWaitingSeconds, 0) {
		writeError(w, http.StatusBadRequest, "bad_request", "bad status")
		return
	}
	became, stuck := s.health.put(agentHealth{Project: a.Project, Site: a.Site, Agent: a.ID, Status: st, Received: s.now()})
	s.mon.setStuck(stuck)
	if became {
		s.record(r.Context(), audit.Event{Actor: a.ID, Action: audit.ActionAgentStuck, Project: a.Project,
			Object: a.ID, IP: r.RemoteAddr, Details: map[string]any{"site": a.Site,
				"oldest_waiting_seconds": math.Round(st.OldestWaitingSeconds)}})
	}
	w.WriteHeader(http.StatusNoContent)
}

// AgentAlert is an agent the dashboard warns about.
type AgentAlert struct {
	Project string `json:"project"`
	Site    string `json:"site"`
	Agent   string `json:"agent"`
	// OldestWaitingSeconds is the age of the agent's oldest waiting item
	// in its latest report.
	OldestWaitingSeconds float64 `json:"oldest_waiting_seconds"`
	// LastReport is when this relay last received its status.
	LastReport time.Time `json:"last_report"`
}

// OldestWaiting is OldestWaitingSeconds as a duration, to the second.
func (a AgentAlert) OldestWaiting() time.Duration {
	return time.Duration(a.OldestWaitingSeconds * float64(time.Second)).Round(time.Second)
}

// agentAlerts returns the agents of projects whose queue is stuck and
// those not heard from within agentSilentAfter of now.
func (s *Server) agentAlerts(projects []string, now time.Time) (stuck, silent []AgentAlert) {
	for _, h := range s.health.list(projects) {
		al := AgentAlert{Project: h.Project, Site: h.Site, Agent: h.Agent,
			OldestWaitingSeconds: h.Status.OldestWaitingSeconds, LastReport: h.Received}
		if h.Status.Stuck {
			stuck = append(stuck, al)
		}
		if now.Sub(h.Received) > agentSilentAfter {
			silent = append(silent, al)
		}
	}
	return stuck, silent
}
