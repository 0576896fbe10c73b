package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtDB is a *sql.DB that prepares each query text once and reuses the
// statement: parsing and planning a statement costs modernc.org/sqlite
// about as much as running it, and the relay runs the same few queries for
// every file. Transactions reuse them too ([stmtDB.beginTx]).
type stmtDB struct {
	*sql.DB
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt // +checklocks:mu
	wanted map[string]bool      // +checklocks:mu; asked for inside a transaction
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
	st, ok := d.stmts[query]
	full := len(d.stmts) >= stmtCacheLimit
	d.mu.Unlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	// Prepared without the lock: a prepare waits for the connection, which
	// a transaction may hold while it looks up its statements.
	st, err := d.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil // the unprepared run reports the error
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev, ok := d.stmts[query]; ok {
		st.Close() // prepared concurrently
		return prev
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

// cached returns the prepared statement of query if it is cached, else
// notes query to be prepared by the next prepareWanted.
func (d *stmtDB) cached(query string) *sql.Stmt {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.stmts[query]
	if !ok && len(d.stmts)+len(d.wanted) < stmtCacheLimit {
		if d.wanted == nil {
			d.wanted = make(map[string]bool)
		}
		d.wanted[query] = true
	}
	return st
}

// prepareWanted prepares the statements transactions asked for. It runs
// when no transaction holds the connection (a prepare waits for a free
// one).
func (d *stmtDB) prepareWanted(ctx context.Context) {
	d.mu.Lock()
	var qs []string
	for q := range d.wanted {
		qs = append(qs, q)
	}
	d.wanted = nil
	d.mu.Unlock()
	for _, q := range qs {
		d.stmt(ctx, q)
	}
}

// stmtTx is a transaction that runs its queries through the cached
// statements of its stmtDB, bound to the transaction. A transaction holds
// the connection (SQLite has one), so it cannot prepare a statement for
// the cache itself: a query not cached yet runs unprepared and is prepared
// once the transaction ends.
type stmtTx struct {
	*sql.Tx
	d *stmtDB
}

// beginTx starts a transaction whose queries reuse the cached statements.
func (d *stmtDB) beginTx(ctx context.Context) (*stmtTx, error) {
	tx, err := d.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &stmtTx{Tx: tx, d: d}, nil
}

// Commit commits the transaction, then prepares the statements it missed.
func (t *stmtTx) Commit() error {
	err := t.Tx.Commit()
	t.d.prepareWanted(context.Background())
	return err
}

// Rollback aborts the transaction (if it is still open), then prepares the
// statements it missed.
func (t *stmtTx) Rollback() error {
	err := t.Tx.Rollback()
	if err == nil {
		t.d.prepareWanted(context.Background())
	}
	return err
}

// ExecContext runs query through its cached statement.
func (t *stmtTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.d.cached(query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs query through its cached statement.
func (t *stmtTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.d.cached(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query through its cached statement.
func (t *stmtTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.d.cached(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
