package store

import "context"

// AccountOpener is implemented by metadata databases that also hold the
// account store ([SQLite], [Postgres]), so that callers holding a [MetaDB]
// of either kind can reach it, as [AuditOpener] does for the audit log:
//
//	if o, ok := db.(store.AccountOpener); ok { st, err := o.OpenAccounts(ctx) ... }
type AccountOpener interface {
	// OpenAccounts returns the account store in the same database,
	// sharing its connections, after bringing the account schema up to
	// date. Close the database, not the account store.
	OpenAccounts(ctx context.Context) (AccountStore, error)
}

// OpenAccounts is [SQLite.Accounts] returning the interface.
func (s *SQLite) OpenAccounts(ctx context.Context) (AccountStore, error) {
	a, err := s.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	return a, nil
}

var (
	_ AccountOpener = (*SQLite)(nil)
	_ AccountOpener = (*Postgres)(nil)
)
