package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"dicomgate/audit"
	"dicomgate/store"
	"dicomgate/transport"
)

// Quarantine review keeps no table of its own: agents report quarantined
// items as quarantine.report events, users decide with quarantine.requeue
// or quarantine.discard events, and agents poll those decisions. The
// Object of all three is "<agent>/<item>" and their Project the agent's.

// maxQuarantineReports bounds the reports of one request.
const maxQuarantineReports = 500

// maxQuarantineReason bounds a reported reason, in bytes.
const maxQuarantineReason = 300

// registerAgentAPI adds the endpoints agents call with their client
// certificate.
func (s *Server) registerAgentAPI(mux *http.ServeMux) {
	mux.HandleFunc("POST "+transport.QuarantinePath, s.handleQuarantineReport)
	mux.HandleFunc("GET "+transport.CommandsPath, s.handleAgentCommands)
	mux.HandleFunc("POST "+transport.AgentStatusPath, s.handleAgentStatus)
}

// requestAgent returns the enrolled agent whose verified client
// certificate r carries: 401 without one, 403 (audited) when the agent is
// unknown, revoked or presents another certificate.
func (s *Server) requestAgent(w http.ResponseWriter, r *http.Request) (*store.Agent, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		s.record(r.Context(), audit.Event{Actor: "anonymous", Action: audit.ActionAccessDenied, IP: r.RemoteAddr,
			Reason: "missing agent certificate", Object: r.Method + " " + r.URL.Path})
		writeError(w, http.StatusUnauthorized, "unauthenticated", "an agent client certificate is required")
		return nil, false
	}
	cert := r.TLS.PeerCertificates[0]
	id, err := transport.AgentIDFromCert(cert)
	var a *store.Agent
	if err == nil {
		a, err = s.enrolledAgent(r.Context(), id, cert)
		if err != nil && !errors.Is(err, errAgentUnknown) && !errors.Is(err, errAgentRevoked) && !errors.Is(err, errAgentCert) {
			s.internal(w, err)
			return nil, false
		}
	}
	if err != nil {
		actor := id
		if actor == "" {
			actor = "anonymous"
		}
		s.record(r.Context(), audit.Event{Actor: actor, Action: audit.ActionAccessDenied, IP: r.RemoteAddr,
			Reason: "agent refused: unknown or revoked", Object: r.Method + " " + r.URL.Path})
		writeError(w, http.StatusForbidden, "forbidden", "agent not enrolled or revoked")
		return nil, false
	}
	return a, true
}

// quarantineObject is the audit Object of an agent's queue item.
func quarantineObject(agentID string, item int64) string {
	return agentID + "/" + strconv.FormatInt(item, 10)
}

// handleQuarantineReport records one quarantine.report per reported item.
func (s *Server) handleQuarantineReport(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requestAgent(w, r)
	if !ok {
		return
	}
	var reports []transport.QuarantineReport
	if !decodeBody(w, r, &reports) {
		return
	}
	if len(reports) > maxQuarantineReports {
		writeError(w, http.StatusBadRequest, "bad_request", "too many reports")
		return
	}
	for _, q := range reports {
		if q.Item <= 0 {
			writeError(w, http.StatusBadRequest, "bad_request", "bad item id")
			return
		}
	}
	for _, q := range reports {
		reason := strings.ToValidUTF8(q.Reason, "")
		if len(reason) > maxQuarantineReason {
			reason = strings.ToValidUTF8(reason[:maxQuarantineReason], "")
		}
		details := map[string]any{"site": a.Site}
		if !q.At.IsZero() {
			details["quarantined_at"] = q.At.UTC().Format(time.RFC3339)
		}
		s.record(r.Context(), audit.Event{Actor: a.ID, Action: audit.ActionQuarantineReport, Project: a.Project,
			Object: quarantineObject(a.ID, q.Item), IP: r.RemoteAddr, Reason: reason, Details: details})
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleAgentCommands answers the decisions on the agent's items recorded
// after the audit index "after".
func (s *Server) handleAgentCommands(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requestAgent(w, r)
	if !ok {
		return
	}
	after := int64(-1)
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < -1 {
			writeError(w, http.StatusBadRequest, "bad_request", "bad after")
			return
		}
		after = n
	}
	res, err := s.resources()
	if err != nil {
		s.internal(w, err)
		return
	}
	out := transport.QuarantineCommands{Commands: []transport.QuarantineCommand{}, Next: after}
	prefix := a.ID + "/"
	for _, act := range []audit.Action{audit.ActionQuarantineRequeue, audit.ActionQuarantineDiscard} {
		for e, err := range res.audit.Query(r.Context(), audit.Filter{Project: a.Project, Action: act}) {
			if err != nil {
				s.internal(w, fmt.Errorf("relay: audit query: %w", err))
				return
			}
			item, ok := strings.CutPrefix(e.Object, prefix)
			if !ok || e.Index <= after {
				continue
			}
			id, err := strconv.ParseInt(item, 10, 64)
			if err != nil {
				continue
			}
			c := transport.QuarantineCommand{Index: e.Index, Item: id, Action: transport.CommandRequeue, By: e.Actor, At: e.Time}
			if act == audit.ActionQuarantineDiscard {
				c.Action = transport.CommandDiscard
			}
			out.Commands = append(out.Commands, c)
			out.Next = max(out.Next, e.Index)
		}
	}
	slices.SortFunc(out.Commands, func(x, y transport.QuarantineCommand) int { return cmp.Compare(x.Index, y.Index) })
	writeJSON(w, http.StatusOK, out)
}

// quarantineItem is a reported quarantine awaiting a decision.
type quarantineItem struct {
	Project, Site, Agent string
	Item                 int64
	Reason               string
	At                   time.Time // when reported
}

// pendingQuarantines returns the undecided reports of project's agents,
// newest first.
func (s *Server) pendingQuarantines(ctx context.Context, project string) ([]quarantineItem, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	agents, err := res.db.ListAgents(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("relay: list agents: %w", err)
	}
	sites := map[string]string{}
	for _, a := range agents {
		sites[a.ID] = a.Site
	}
	pending := map[string]quarantineItem{}
	for e, err := range res.audit.Query(ctx, audit.Filter{Project: project}) {
		if err != nil {
			return nil, fmt.Errorf("relay: audit query: %w", err)
		}
		switch e.Action {
		case audit.ActionQuarantineReport:
			agent, item, ok := strings.Cut(e.Object, "/")
			id, err := strconv.ParseInt(item, 10, 64)
			if !ok || err != nil || agent != e.Actor {
				continue
			}
			pending[e.Object] = quarantineItem{Project: project, Site: sites[agent], Agent: agent, Item: id,
				Reason: e.Reason, At: e.Time}
		case audit.ActionQuarantineRequeue, audit.ActionQuarantineDiscard:
			delete(pending, e.Object)
		}
	}
	out := make([]quarantineItem, 0, len(pending))
	for _, q := range pending {
		out = append(out, q)
	}
	slices.SortFunc(out, func(x, y quarantineItem) int {
		return cmp.Or(y.At.Compare(x.At), cmp.Compare(x.Agent, y.Agent), cmp.Compare(x.Item, y.Item))
	})
	return out, nil
}

// errNoQuarantine: the item is not awaiting a decision.
var errNoQuarantine = errors.New("relay: no such quarantined item")

// DecideQuarantine records actor's decision (audit.ActionQuarantineRequeue
// or audit.ActionQuarantineDiscard) on an undecided quarantined item of an
// agent of project.
func (s *Server) DecideQuarantine(ctx context.Context, actor, project, agentID string, item int64, act audit.Action, ip string) error {
	if act != audit.ActionQuarantineRequeue && act != audit.ActionQuarantineDiscard {
		return fmt.Errorf("relay: decide quarantine: bad action")
	}
	pending, err := s.pendingQuarantines(ctx, project)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(pending, func(q quarantineItem) bool { return q.Agent == agentID && q.Item == item }) {
		return errNoQuarantine
	}
	s.record(ctx, audit.Event{Actor: actor, Action: act, Project: project, Object: quarantineObject(agentID, item), IP: ip})
	return nil
}

// quarantineView is the Quarantine page.
type quarantineView struct {
	Items []quarantineItem
}

func (u *webUI) quarantineData(r *http.Request) (*quarantineView, error) {
	p := principalFrom(r.Context())
	v := &quarantineView{}
	for _, id := range u.s.visibleProjects(p) {
		if !allowed(p.Grants, permSiteManage, id) {
			continue
		}
		items, err := u.s.pendingQuarantines(r.Context(), id)
		if err != nil {
			return nil, err
		}
		v.Items = append(v.Items, items...)
	}
	slices.SortStableFunc(v.Items, func(x, y quarantineItem) int { return y.At.Compare(x.At) })
	return v, nil
}

func (u *webUI) quarantinePage(w http.ResponseWriter, r *http.Request) {
	v, err := u.quarantineData(r)
	if err != nil {
		u.s.internal(w, err)
		return
	}
	u.render(w, http.StatusOK, "quarantine", newPageData(principalFrom(r.Context()), "Quarantine", v))
}

// quarantineSubmit records a Requeue or Discard decision; the form names
// the project (the guard checks the role in it), agent, item and action.
func (u *webUI) quarantineSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	project, agentID := r.PostFormValue("project"), r.PostFormValue("agent")
	item, err := strconv.ParseInt(r.PostFormValue("item"), 10, 64)
	act := map[string]audit.Action{transport.CommandRequeue: audit.ActionQuarantineRequeue,
		transport.CommandDiscard: audit.ActionQuarantineDiscard}[r.PostFormValue("action")]
	if err != nil || act == "" || !validProject(project) {
		u.s.renderError(w, r, p, http.StatusBadRequest, "Bad request.")
		return
	}
	err = u.s.DecideQuarantine(r.Context(), p.Name, project, agentID, item, act, clientIP(r))
	if errors.Is(err, errNoQuarantine) {
		u.s.renderError(w, r, p, http.StatusNotFound, "No such quarantined item awaiting a decision.")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	http.Redirect(w, r, "/ui/quarantine", http.StatusSeeOther)
}
