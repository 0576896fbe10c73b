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

// healthUpdate is what one status report changed.
type healthUpdate struct {
	// becameStuck and becameFull say the agent just became stuck, or
	// just reported its disk full (it was not, or was unknown, before).
	becameStuck, becameFull bool
	// stuck and full count, per project, the agents whose latest status
	// is stuck or reports a full disk.
	stuck, full map[string]int
}

// put stores h and tells what it changed.
func (hm *agentHealthMap) put(h agentHealth) healthUpdate {
	hm.mu.Lock()
	defer hm.mu.Unlock()
	if hm.m == nil {
		hm.m = map[string]agentHealth{}
	}
	prev, ok := hm.m[h.Agent]
	u := healthUpdate{
		becameStuck: h.Status.Stuck && (!ok || !prev.Status.Stuck),
		becameFull:  h.Status.StorageFull && (!ok || !prev.Status.StorageFull),
		stuck:       map[string]int{},
		full:        map[string]int{},
	}
	hm.m[h.Agent] = h
	for _, a := range hm.m {
		u.stuck[a.Project] += b2i(a.Status.Stuck)
		u.full[a.Project] += b2i(a.Status.StorageFull)
	}
	return u
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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
// agent.stuck when its queue becomes stuck and agent.storage_full when it
// reports its disk full, and updates dicomgate_relay_agents_stuck and
// dicomgate_relay_agents_storage_full.
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
	u := s.health.put(agentHealth{Project: a.Project, Site: a.Site, Agent: a.ID, Status: st, Received: s.now()})
	s.mon.setStuck(u.stuck)
	s.mon.setAgentsFull(u.full)
	if u.becameFull {
		s.log.Warn().Str("agent_id", a.ID).Str("project", a.Project).Msg("agent reports its disk full")
		s.record(r.Context(), audit.Event{Actor: a.ID, Action: audit.ActionAgentStorageFull, Project: a.Project,
			Object: a.ID, IP: r.RemoteAddr, Details: map[string]any{"site": a.Site}})
	}
	if u.becameStuck {
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

// agentAlerts returns the agents of projects whose queue is stuck, those
// not heard from within agentSilentAfter of now and those whose disk is
// full.
func (s *Server) agentAlerts(projects []string, now time.Time) (stuck, silent, full []AgentAlert) {
	for _, h := range s.health.list(projects) {
		al := AgentAlert{Project: h.Project, Site: h.Site, Agent: h.Agent,
			OldestWaitingSeconds: h.Status.OldestWaitingSeconds, LastReport: h.Received}
		if h.Status.Stuck {
			stuck = append(stuck, al)
		}
		if now.Sub(h.Received) > agentSilentAfter {
			silent = append(silent, al)
		}
		if h.Status.StorageFull {
			full = append(full, al)
		}
	}
	return stuck, silent, full
}
