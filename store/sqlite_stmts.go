package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtDB is a *sql.DB that prepares each query text once and reuses the
// statement: parsing and planning a statement costs modernc.org/sqlite
// about as much as running it, and the relay runs the same few queries for
// every file. Transactions prepare as usual.
type stmtDB struct {
	*sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt // +checklocks:mu
}

func newStmtDB(db *sql.DB) *stmtDB {
	return &stmtDB{DB: db, stmts: make(map[string]*sql.Stmt)}
}

// stmtCacheLimit bounds the cache: query texts built with a variable
// number of placeholders are many, and the first ones are kept.
const stmtCacheLimit = 256

// stmt returns the prepared statement of query, or nil when it cannot be
// cached (the caller then runs the query unprepared).
func (d *stmtDB) stmt(ctx context.Context, query string) *sql.Stmt {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st, ok := d.stmts[query]; ok {
		return st
	}
	if len(d.stmts) >= stmtCacheLimit {
		return nil
	}
	st, err := d.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil // the unprepared run reports the error
	}
	d.stmts[query] = st
	return st
}

// ExecContext runs query through its cached statement.
func (d *stmtDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := d.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, query, args...)
}

// QueryContext runs query through its cached statement.
func (d *stmtDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query through its cached statement.
func (d *stmtDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, query, args...)
}

// Close closes the cached statements and the database.
func (d *stmtDB) Close() error {
	d.mu.Lock()
	for q, st := range d.stmts {
		st.Close()
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return d.DB.Close()
}
