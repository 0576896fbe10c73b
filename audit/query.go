package audit

import (
	"context"
	"fmt"
	"iter"
	"time"

	"dicomgate/store"
)

// Filter selects entries for [Log.Query] and [Log.Export]. Zero fields
// match everything.
type Filter struct {
	// Since keeps entries recorded at or after Since.
	Since time.Time `json:"since,omitzero"`
	// Until keeps entries recorded before Until.
	Until time.Time `json:"until,omitzero"`
	// Actor keeps the entries of one actor.
	Actor string `json:"actor,omitempty"`
	// Action keeps the entries of one action.
	Action Action `json:"action,omitempty"`
	// Project keeps the entries of one project.
	Project string `json:"project,omitempty"`
	// Study keeps the entries of one (pseudonymous) study.
	Study string `json:"study,omitempty"`
}

// match reports whether e passes f.
func (f Filter) match(e Entry) bool {
	return (f.Since.IsZero() || !e.Time.Before(f.Since)) &&
		(f.Until.IsZero() || e.Time.Before(f.Until)) &&
		(f.Actor == "" || e.Actor == f.Actor) &&
		(f.Action == "" || e.Action == f.Action) &&
		(f.Project == "" || e.Project == f.Project) &&
		(f.Study == "" || e.Study == f.Study)
}

// queryPage is how many entries Query reads at once.
const queryPage = 1000

// Query returns the entries matching f in index order, reading the store a
// page at a time. Entries are decoded from their stored data (what the tree
// authenticates); the database's index columns only narrow the search, and
// the filter is applied again to the decoded entry. An entry that does not
// decode yields an error wrapping [ErrTampered] and ends the sequence, as
// does a store failure. Run [Log.Verify] to know the log is intact.
func (l *Log) Query(ctx context.Context, f Filter) iter.Seq2[Entry, error] {
	sf := store.AuditFilter{Since: f.Since, Until: f.Until, Actor: f.Actor, Action: string(f.Action),
		Project: f.Project, Study: f.Study}
	return func(yield func(Entry, error) bool) {
		after := int64(-1)
		for {
			rows, err := l.st.QueryAudit(ctx, sf, after, queryPage)
			if err != nil {
				yield(Entry{}, fmt.Errorf("audit: query: %w", err))
				return
			}
			for _, r := range rows {
				after = r.Index
				e, err := decodeEntry(r.Data)
				if err == nil && e.Index != r.Index {
					err = fmt.Errorf("entry at index %d claims index %d", r.Index, e.Index)
				}
				if err != nil {
					yield(Entry{}, fmt.Errorf("audit: query: entry %d: %w: %w", r.Index, ErrTampered, err))
					return
				}
				if f.match(e) && !yield(e, nil) {
					return
				}
			}
			if len(rows) < queryPage {
				return
			}
		}
	}
}
