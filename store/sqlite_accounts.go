package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SQLiteAccounts is the embedded [AccountStore]: its tables live in the
// same SQLite file as [SQLite], on a migration track of their own. Get one
// from an open metadata database with [SQLite.Accounts].
type SQLiteAccounts struct {
	db *stmtDB
}

var _ AccountStore = (*SQLiteAccounts)(nil)

// Accounts returns the account store in s's database file, sharing s's
// connections, after bringing its schema up to date. Close s, not it.
func (s *SQLite) Accounts(ctx context.Context) (*SQLiteAccounts, error) {
	a := &SQLiteAccounts{db: s.db}
	if err := a.migrateAccounts(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// accountColumns lists the accounts columns in scanAccount's order.
const accountColumns = `name, full_name, password_hash, must_change, password_changed_at, disabled,
	failed_logins, locked_at, totp_secret, totp_pending, totp_last_step, created_at, created_by`

// scanAccount reads one row of accountColumns.
func scanAccount(row scanner) (*Account, error) {
	var a Account
	var changed, locked, created sql.NullInt64
	if err := row.Scan(&a.Name, &a.FullName, &a.PasswordHash, &a.MustChange, &changed, &a.Disabled,
		&a.FailedLogins, &locked, &a.TOTPSecret, &a.TOTPPending, &a.TOTPLastStep, &created, &a.CreatedBy); err != nil {
		return nil, err
	}
	a.PasswordChangedAt, a.LockedAt, a.CreatedAt = fromMicro(changed), fromMicro(locked), fromMicro(created)
	return &a, nil
}

// CreateAccount implements [AccountStore].
func (s *SQLiteAccounts) CreateAccount(ctx context.Context, a Account) error {
	if a.Name == "" || a.PasswordHash == "" {
		return fmt.Errorf("store: create account: %w: name and password hash are required", ErrInvalidRecord)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO accounts (`+accountColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Name, a.FullName, a.PasswordHash, a.MustChange, micro(a.PasswordChangedAt), a.Disabled,
		a.FailedLogins, micro(a.LockedAt), a.TOTPSecret, a.TOTPPending, a.TOTPLastStep,
		micro(nowOr(a.CreatedAt)), a.CreatedBy)
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create account %s: %w", a.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create account %s: %w", a.Name, err)
	}
	return nil
}

// GetAccount implements [AccountStore].
func (s *SQLiteAccounts) GetAccount(ctx context.Context, name string) (*Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get account: %w", ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get account: %w", err)
	}
	return a, nil
}

// ListAccounts implements [AccountStore].
func (s *SQLiteAccounts) ListAccounts(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list accounts: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	return out, nil
}

// UpdateAccount implements [AccountStore] in one immediate transaction.
func (s *SQLiteAccounts) UpdateAccount(ctx context.Context, name string, update func(*Account) error) (*Account, error) {
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: update account: %w", err)
	}
	defer tx.Rollback()
	a, err := scanAccount(tx.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
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
	// RETURNING gives back what was stored: times in UTC, truncated to
	// microseconds, and the name and creation fields unchanged.
	a, err = scanAccount(tx.QueryRowContext(ctx, `UPDATE accounts SET full_name = ?, password_hash = ?, must_change = ?,
		password_changed_at = ?, disabled = ?, failed_logins = ?, locked_at = ?, totp_secret = ?,
		totp_pending = ?, totp_last_step = ? WHERE name = ? RETURNING `+accountColumns,
		a.FullName, a.PasswordHash, a.MustChange, micro(a.PasswordChangedAt), a.Disabled, a.FailedLogins,
		micro(a.LockedAt), a.TOTPSecret, a.TOTPPending, a.TOTPLastStep, name))
	if err != nil {
		return nil, fmt.Errorf("store: update account: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: update account: %w", err)
	}
	return a, nil
}

// AddPasswordHistory implements [AccountStore].
func (s *SQLiteAccounts) AddPasswordHistory(ctx context.Context, name, hash string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO password_history (account, hash, at) VALUES (?, ?, ?)`,
		name, hash, micro(nowOr(at)))
	if err != nil {
		return fmt.Errorf("store: add password history: %w", err)
	}
	return nil
}

// PasswordHistory implements [AccountStore].
func (s *SQLiteAccounts) PasswordHistory(ctx context.Context, name string, n int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT hash FROM password_history WHERE account = ?
		ORDER BY id DESC LIMIT ?`, name, n)
	if err != nil {
		return nil, fmt.Errorf("store: password history: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("store: password history: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: password history: %w", err)
	}
	return out, nil
}

// PutGrant implements [AccountStore].
func (s *SQLiteAccounts) PutGrant(ctx context.Context, g Grant) error {
	if g.Account == "" || g.Project == "" || g.Role == "" {
		return fmt.Errorf("store: put grant: %w: account, project and role are required", ErrInvalidRecord)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO account_grants (account, project, role) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, g.Account, g.Project, g.Role)
	if err != nil {
		return fmt.Errorf("store: put grant: %w", err)
	}
	return nil
}

// DeleteGrant implements [AccountStore].
func (s *SQLiteAccounts) DeleteGrant(ctx context.Context, g Grant) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM account_grants WHERE account = ? AND project = ? AND role = ?`,
		g.Account, g.Project, g.Role)
	if err != nil {
		return fmt.Errorf("store: delete grant: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: delete grant: %w", ErrNotExist)
	}
	return nil
}

// Grants implements [AccountStore].
func (s *SQLiteAccounts) Grants(ctx context.Context, name string) ([]Grant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT account, project, role FROM account_grants
		WHERE account = ? ORDER BY project, role`, name)
	if err != nil {
		return nil, fmt.Errorf("store: grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		var g Grant
		if err := rows.Scan(&g.Account, &g.Project, &g.Role); err != nil {
			return nil, fmt.Errorf("store: grants: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: grants: %w", err)
	}
	return out, nil
}

// sessionColumns lists the sessions columns in scanSession's order.
const sessionColumns = `id, account, csrf, ip, created_at, last_seen, ended_at, end_reason`

// scanSession reads one row of sessionColumns.
func scanSession(row scanner) (*Session, error) {
	var s Session
	var created, seen, ended sql.NullInt64
	if err := row.Scan(&s.ID, &s.Account, &s.CSRF, &s.IP, &created, &seen, &ended, &s.EndReason); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeen, s.EndedAt = fromMicro(created), fromMicro(seen), fromMicro(ended)
	return &s, nil
}

// CreateSession implements [AccountStore].
func (s *SQLiteAccounts) CreateSession(ctx context.Context, se Session) error {
	if se.ID == "" || se.Account == "" {
		return fmt.Errorf("store: create session: %w: id and account are required", ErrInvalidRecord)
	}
	created := nowOr(se.CreatedAt)
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, NULL, '')`,
		se.ID, se.Account, se.CSRF, se.IP, micro(created), micro(nowOr(se.LastSeen)))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create session: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// GetSession implements [AccountStore].
func (s *SQLiteAccounts) GetSession(ctx context.Context, id string) (*Session, error) {
	se, err := scanSession(s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get session: %w", ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get session: %w", err)
	}
	return se, nil
}

// TouchSession implements [AccountStore].
func (s *SQLiteAccounts) TouchSession(ctx context.Context, id string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen = ? WHERE id = ? AND ended_at IS NULL`,
		micro(nowOr(at)), id); err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// EndSession implements [AccountStore].
func (s *SQLiteAccounts) EndSession(ctx context.Context, id string, at time.Time, reason string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE sessions SET ended_at = ?, end_reason = ?
		WHERE id = ? AND ended_at IS NULL`, micro(nowOr(at)), reason, id)
	if err != nil {
		return fmt.Errorf("store: end session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := s.GetSession(ctx, id); err != nil {
		return fmt.Errorf("store: end session: %w", ErrNotExist)
	}
	return fmt.Errorf("store: end session: %w", ErrStale)
}

// EndAccountSessions implements [AccountStore].
func (s *SQLiteAccounts) EndAccountSessions(ctx context.Context, name, except string, at time.Time, reason string) ([]Session, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE sessions SET ended_at = ?, end_reason = ?
		WHERE account = ? AND id <> ? AND ended_at IS NULL RETURNING `+sessionColumns,
		micro(nowOr(at)), reason, name, except)
	if err != nil {
		return nil, fmt.Errorf("store: end account sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		se, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("store: end account sessions: %w", err)
		}
		out = append(out, *se)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: end account sessions: %w", err)
	}
	return out, nil
}
