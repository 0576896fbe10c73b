package relay

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"dicomgate/audit"
)

// Dashboard is the relay's state at a glance (GET /api/v1/dashboard and
// the web UI's home page), limited to the projects the caller has a role
// in.
type Dashboard struct {
	// Projects summarises each visible project.
	Projects []ProjectSummary `json:"projects"`
	// Committed24h counts files committed in the last 24 hours.
	Committed24h int `json:"committed_24h"`
	// Rejected24h counts refused uploads in the last 24 hours.
	Rejected24h int `json:"rejected_24h"`
	// Conflicts24h counts conflicting uploads in the last 24 hours.
	Conflicts24h int `json:"conflicts_24h"`
	// CommittedLastHour counts files committed in the last hour
	// (throughput).
	CommittedLastHour int `json:"committed_last_hour"`
	// BytesLastHour sums the plaintext sizes committed in the last hour.
	BytesLastHour int64 `json:"bytes_last_hour"`
	// Lockouts lists account lockouts of the last 7 days (user
	// managers only).
	Lockouts []audit.Entry `json:"lockouts,omitempty"`
	// Locked lists the accounts locked now (user managers only).
	Locked []string `json:"locked,omitempty"`
	// StuckAgents lists the agents whose latest status reports a stuck
	// queue, and SilentAgents those that have not reported for 5
	// minutes. Only agents reporting to this relay are known.
	StuckAgents  []AgentAlert `json:"stuck_agents,omitempty"`
	SilentAgents []AgentAlert `json:"silent_agents,omitempty"`
	// FullAgents lists the agents whose latest status reports their own
	// disk full (their processing waits for space).
	FullAgents []AgentAlert `json:"full_agents,omitempty"`
	// StorageFullSince is when this relay started refusing uploads
	// because its own storage is full; zero when it is not.
	StorageFullSince time.Time `json:"storage_full_since,omitzero"`
}

// ProjectSummary is one project on the dashboard.
type ProjectSummary struct {
	ID       string `json:"id"`
	Studies  int    `json:"studies"`
	Files    int    `json:"files"`
	Bytes    int64  `json:"bytes"`
	Agents   int    `json:"agents"`
	Revoked  int    `json:"revoked_agents"`
	Releases int    `json:"releases"`
	// Policies counts the policy hashes accepted (configured and
	// approved).
	Policies int `json:"policies"`
}

// visibleProjects returns the configured projects p has a role in.
func (s *Server) visibleProjects(p *Principal) []string {
	var out []string
	for _, pc := range s.cfg.Projects {
		if anyRoleIn(p.Grants, pc.ID) {
			out = append(out, pc.ID)
		}
	}
	return out
}

// dashboard computes the dashboard for p.
func (s *Server) dashboard(ctx context.Context, p *Principal) (*Dashboard, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	d := &Dashboard{}
	visible := s.visibleProjects(p)
	for _, id := range visible {
		ps := ProjectSummary{ID: id}
		studies, err := res.db.ListStudies(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("relay: dashboard: %w", err)
		}
		for _, st := range studies {
			ps.Studies++
			ps.Files += st.Files
			ps.Bytes += st.Bytes
		}
		agents, err := res.db.ListAgents(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("relay: dashboard: %w", err)
		}
		for _, a := range agents {
			if a.Revoked {
				ps.Revoked++
			} else {
				ps.Agents++
			}
		}
		rels, err := res.accounts.ListReleases(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("relay: dashboard: %w", err)
		}
		ps.Releases = len(rels)
		approved, err := s.approvedHashes(ctx, id)
		if err != nil {
			return nil, err
		}
		ps.Policies = len(approved) + len(s.cfg.project(id).PolicyHashes)
		d.Projects = append(d.Projects, ps)
	}
	now := s.now()
	d.StuckAgents, d.SilentAgents, d.FullAgents = s.agentAlerts(visible, now)
	d.StorageFullSince = s.full.fullSince()
	count := func(action audit.Action, since time.Time, f func(audit.Entry)) error {
		for e, err := range res.audit.Query(ctx, audit.Filter{Action: action, Since: since}) {
			if err != nil {
				return fmt.Errorf("relay: dashboard: %w", err)
			}
			if e.Project == "" || slices.Contains(visible, e.Project) || allowed(p.Grants, permUserManage, AllProjects) {
				f(e)
			}
		}
		return nil
	}
	if err := count(audit.ActionFileCommitted, now.Add(-24*time.Hour), func(e audit.Entry) {
		d.Committed24h++
		if e.Time.After(now.Add(-time.Hour)) {
			d.CommittedLastHour++
			if n, ok := e.Details["plaintext_size"].(interface{ Int64() (int64, error) }); ok {
				v, _ := n.Int64()
				d.BytesLastHour += v
			}
		}
	}); err != nil {
		return nil, err
	}
	if err := count(audit.ActionFileRejected, now.Add(-24*time.Hour), func(audit.Entry) { d.Rejected24h++ }); err != nil {
		return nil, err
	}
	if err := count(audit.ActionConflict, now.Add(-24*time.Hour), func(audit.Entry) { d.Conflicts24h++ }); err != nil {
		return nil, err
	}
	if allowed(p.Grants, permUserManage, AllProjects) {
		if err := count(audit.ActionAccountLockout, now.Add(-7*24*time.Hour), func(e audit.Entry) {
			d.Lockouts = append(d.Lockouts, e)
		}); err != nil {
			return nil, err
		}
		as, err := s.ListAccounts(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			if a.Locked {
				d.Locked = append(d.Locked, a.Name)
			}
		}
	}
	return d, nil
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	d, err := s.dashboard(r.Context(), principalFrom(r.Context()))
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
