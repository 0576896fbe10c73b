package relay

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"dicomgate/audit"
)

// auditFilterFromQuery reads an audit filter from the query or form:
// project, actor, action, since and until (RFC 3339 or 2006-01-02).
func auditFilterFromQuery(r *http.Request) (audit.Filter, error) {
	get := func(k string) string {
		if v := r.URL.Query().Get(k); v != "" {
			return v
		}
		if r.Method == http.MethodPost {
			return r.PostFormValue(k)
		}
		return ""
	}
	f := audit.Filter{Project: get("project"), Actor: get("actor"), Action: audit.Action(get("action"))}
	if f.Action != "" && !f.Action.Valid() {
		return f, errors.New("unknown action")
	}
	var err error
	if f.Since, err = parseTimeParam(get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseTimeParam(get("until")); err != nil {
		return f, err
	}
	return f, nil
}

// parseTimeParam parses "", RFC 3339 or a date (UTC midnight).
func parseTimeParam(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q is neither RFC 3339 nor YYYY-MM-DD", v)
}

// queryAudit returns up to limit entries matching f, the newest ones, in
// index order.
func (s *Server) queryAudit(r *http.Request, f audit.Filter, limit int) ([]audit.Entry, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	var out []audit.Entry
	for e, err := range res.audit.Query(r.Context(), f) {
		if err != nil {
			return nil, fmt.Errorf("relay: audit query: %w", err)
		}
		out = append(out, e)
		if len(out) > limit {
			out = out[1:]
		}
	}
	return out, nil
}
