package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresAccounts is the [AccountStore] in a PostgreSQL database: the
// tables of [SQLiteAccounts] on their own migration track
// (accounts_schema_migrations). Get it from an open [Postgres] with
// [Postgres.Accounts].
//
// It keeps [SQLiteAccounts]' semantics when several relays share the
// database: unique constraints decide concurrent inserts, UpdateAccount
// locks the account's row (SELECT ... FOR UPDATE) from read to commit so
// that counters such as FailedLogins never lose an increment, a session
// ends in one conditional UPDATE, and policy registry writes are
// serialised by a transaction-scoped advisory lock. Text is ordered byte
// by byte (COLLATE "C"), as SQLite does, whatever the database's locale.
type PostgresAccounts struct {
	pool *pgxpool.Pool
}

var _ AccountStore = (*PostgresAccounts)(nil)

// Accounts returns the account store in p's database, sharing p's
// connections, after bringing its schema up to date. Close p, not it.
func (p *Postgres) Accounts(ctx context.Context) (*PostgresAccounts, error) {
	if err := p.migrate(ctx, "accounts_schema_migrations", pgAccountMigrations()); err != nil {
		return nil, err
	}
	return &PostgresAccounts{pool: p.pool}, nil
}

// OpenAccounts is [Postgres.Accounts] returning the interface, for callers
// that accept any back end.
func (p *Postgres) OpenAccounts(ctx context.Context) (AccountStore, error) {
	a, err := p.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// scanPGAccount reads one row of accountColumns.
func scanPGAccount(row pgx.Row) (*Account, error) {
	var a Account
	var changed, locked, created *time.Time
	if err := row.Scan(&a.Name, &a.FullName, &a.PasswordHash, &a.MustChange, &changed, &a.Disabled,
		&a.FailedLogins, &locked, &a.TOTPSecret, &a.TOTPPending, &a.TOTPLastStep, &created, &a.CreatedBy); err != nil {
		return nil, err
	}
	a.PasswordChangedAt, a.LockedAt, a.CreatedAt = fromPGTime(changed), fromPGTime(locked), fromPGTime(created)
	return &a, nil
}

// collectPG reads every row of rows with scan and closes rows.
func collectPG[T any](rows pgx.Rows, scan func(pgx.Row) (*T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// CreateAccount implements [AccountStore].
func (s *PostgresAccounts) CreateAccount(ctx context.Context, a Account) error {
	if a.Name == "" || a.PasswordHash == "" {
		return fmt.Errorf("store: create account: %w: name and password hash are required", ErrInvalidRecord)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO accounts (`+accountColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		a.Name, a.FullName, a.PasswordHash, a.MustChange, pgTime(a.PasswordChangedAt), a.Disabled,
		a.FailedLogins, pgTime(a.LockedAt), a.TOTPSecret, a.TOTPPending, a.TOTPLastStep,
		pgTime(nowOr(a.CreatedAt)), a.CreatedBy)
	if isPGUniqueViolation(err) {
		return fmt.Errorf("store: create account %s: %w", a.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create account %s: %w", a.Name, err)
	}
	return nil
}

// GetAccount implements [AccountStore].
func (s *PostgresAccounts) GetAccount(ctx context.Context, name string) (*Account, error) {
	a, err := scanPGAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: get account: %w", ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get account: %w", err)
	}
	return a, nil
}

// ListAccounts implements [AccountStore].
func (s *PostgresAccounts) ListAccounts(ctx context.Context) ([]Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	out, err := collectPG(rows, scanPGAccount)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	return out, nil
}

// UpdateAccount implements [AccountStore] in one transaction holding the
// account's row lock from read to commit, so that concurrent updates (on
// any relay) apply one after the other, each to its predecessor's result.
func (s *PostgresAccounts) UpdateAccount(ctx context.Context, name string, update func(*Account) error) (*Account, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: update account: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	a, err := scanPGAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE name = $1 FOR UPDATE`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: update account: %w", ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: update account: %w", err)
	}
	if err := update(a); err != nil {
		return nil, err
	}
	if a.PasswordHash == "" {
		return nil, fmt.Errorf("store: update account: %w: password hash is required", ErrInvalidRecord)
	}
	a, err = scanPGAccount(tx.QueryRow(ctx, `UPDATE accounts SET full_name = $1, password_hash = $2, must_change = $3,
		password_changed_at = $4, disabled = $5, failed_logins = $6, locked_at = $7, totp_secret = $8,
		totp_pending = $9, totp_last_step = $10 WHERE name = $11 RETURNING `+accountColumns,
		a.FullName, a.PasswordHash, a.MustChange, pgTime(a.PasswordChangedAt), a.Disabled, a.FailedLogins,
		pgTime(a.LockedAt), a.TOTPSecret, a.TOTPPending, a.TOTPLastStep, name))
	if err != nil {
		return nil, fmt.Errorf("store: update account: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store: update account: %w", err)
	}
	return a, nil
}

// AddPasswordHistory implements [AccountStore].
func (s *PostgresAccounts) AddPasswordHistory(ctx context.Context, name, hash string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO password_history (account, hash, at) VALUES ($1, $2, $3)`,
		name, hash, pgTime(nowOr(at)))
	if err != nil {
		return fmt.Errorf("store: add password history: %w", err)
	}
	return nil
}

// PasswordHistory implements [AccountStore]. A negative n, like SQLite's
// LIMIT, means no limit.
func (s *PostgresAccounts) PasswordHistory(ctx context.Context, name string, n int) ([]string, error) {
	var limit *int
	if n >= 0 {
		limit = &n
	}
	rows, err := s.pool.Query(ctx, `SELECT hash FROM password_history WHERE account = $1
		ORDER BY id DESC LIMIT $2`, name, limit)
	if err != nil {
		return nil, fmt.Errorf("store: password history: %w", err)
	}
	out, err := collectPG(rows, func(row pgx.Row) (*string, error) {
		var h string
		return &h, row.Scan(&h)
	})
	if err != nil {
		return nil, fmt.Errorf("store: password history: %w", err)
	}
	return out, nil
}

// PutGrant implements [AccountStore].
func (s *PostgresAccounts) PutGrant(ctx context.Context, g Grant) error {
	if g.Account == "" || g.Project == "" || g.Role == "" {
		return fmt.Errorf("store: put grant: %w: account, project and role are required", ErrInvalidRecord)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO account_grants (account, project, role) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, g.Account, g.Project, g.Role)
	if err != nil {
		return fmt.Errorf("store: put grant: %w", err)
	}
	return nil
}

// DeleteGrant implements [AccountStore].
func (s *PostgresAccounts) DeleteGrant(ctx context.Context, g Grant) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM account_grants WHERE account = $1 AND project = $2 AND role = $3`,
		g.Account, g.Project, g.Role)
	if err != nil {
		return fmt.Errorf("store: delete grant: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: delete grant: %w", ErrNotExist)
	}
	return nil
}

// Grants implements [AccountStore].
func (s *PostgresAccounts) Grants(ctx context.Context, name string) ([]Grant, error) {
	rows, err := s.pool.Query(ctx, `SELECT account, project, role FROM account_grants
		WHERE account = $1 ORDER BY project COLLATE "C", role COLLATE "C"`, name)
	if err != nil {
		return nil, fmt.Errorf("store: grants: %w", err)
	}
	out, err := collectPG(rows, func(row pgx.Row) (*Grant, error) {
		var g Grant
		return &g, row.Scan(&g.Account, &g.Project, &g.Role)
	})
	if err != nil {
		return nil, fmt.Errorf("store: grants: %w", err)
	}
	return out, nil
}

// scanPGSession reads one row of sessionColumns.
func scanPGSession(row pgx.Row) (*Session, error) {
	var s Session
	var created, seen, ended *time.Time
	if err := row.Scan(&s.ID, &s.Account, &s.CSRF, &s.IP, &created, &seen, &ended, &s.EndReason); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeen, s.EndedAt = fromPGTime(created), fromPGTime(seen), fromPGTime(ended)
	return &s, nil
}

// CreateSession implements [AccountStore].
func (s *PostgresAccounts) CreateSession(ctx context.Context, se Session) error {
	if se.ID == "" || se.Account == "" {
		return fmt.Errorf("store: create session: %w: id and account are required", ErrInvalidRecord)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, NULL, '')`,
		se.ID, se.Account, se.CSRF, se.IP, pgTime(nowOr(se.CreatedAt)), pgTime(nowOr(se.LastSeen)))
	if isPGUniqueViolation(err) {
		return fmt.Errorf("store: create session: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// GetSession implements [AccountStore].
func (s *PostgresAccounts) GetSession(ctx context.Context, id string) (*Session, error) {
	se, err := scanPGSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: get session: %w", ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get session: %w", err)
	}
	return se, nil
}

// TouchSession implements [AccountStore].
func (s *PostgresAccounts) TouchSession(ctx context.Context, id string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen = $1 WHERE id = $2 AND ended_at IS NULL`,
		pgTime(nowOr(at)), id); err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// EndSession implements [AccountStore] in one conditional UPDATE: of
// concurrent callers (on any relay), exactly one ends the session.
func (s *PostgresAccounts) EndSession(ctx context.Context, id string, at time.Time, reason string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET ended_at = $1, end_reason = $2
		WHERE id = $3 AND ended_at IS NULL`, pgTime(nowOr(at)), reason, id)
	if err != nil {
		return fmt.Errorf("store: end session: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.GetSession(ctx, id); err != nil {
		return fmt.Errorf("store: end session: %w", ErrNotExist)
	}
	return fmt.Errorf("store: end session: %w", ErrStale)
}

// EndAccountSessions implements [AccountStore].
func (s *PostgresAccounts) EndAccountSessions(ctx context.Context, name, except string, at time.Time, reason string) ([]Session, error) {
	rows, err := s.pool.Query(ctx, `UPDATE sessions SET ended_at = $1, end_reason = $2
		WHERE account = $3 AND id <> $4 AND ended_at IS NULL RETURNING `+sessionColumns,
		pgTime(nowOr(at)), reason, name, except)
	if err != nil {
		return nil, fmt.Errorf("store: end account sessions: %w", err)
	}
	out, err := collectPG(rows, scanPGSession)
	if err != nil {
		return nil, fmt.Errorf("store: end account sessions: %w", err)
	}
	return out, nil
}
