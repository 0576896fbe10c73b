package store

import "context"

// AuditOpener is implemented by metadata databases that also hold the audit
// log ([SQLite], [Postgres]), so that callers holding a [MetaDB] of either
// kind can reach it:
//
//	if o, ok := db.(store.AuditOpener); ok { st, err := o.OpenAudit(ctx) ... }
type AuditOpener interface {
	// OpenAudit returns the audit store in the same database, sharing its
	// connections, after bringing the audit schema up to date. Close the
	// database, not the audit store.
	OpenAudit(ctx context.Context) (AuditStore, error)
}

// OpenAudit is [SQLite.Audit] returning the interface.
func (s *SQLite) OpenAudit(ctx context.Context) (AuditStore, error) {
	a, err := s.Audit(ctx)
	if err != nil {
		return nil, err
	}
	return a, nil
}

var (
	_ AuditOpener = (*SQLite)(nil)
	_ AuditOpener = (*Postgres)(nil)
)
