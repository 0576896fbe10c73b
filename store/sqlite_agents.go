package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CreateEnrolmentToken implements [MetaDB].
func (s *SQLite) CreateEnrolmentToken(ctx context.Context, tok EnrolmentToken) error {
	if tok.Hash == "" || tok.Project == "" || tok.Site == "" || tok.ExpiresAt.IsZero() {
		return fmt.Errorf("store: create enrolment token: %w: hash, project, site and expires_at are required", ErrInvalidRecord)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO enrolment_tokens
		(hash, project, site, expires_at, created_by, used_at) VALUES (?, ?, ?, ?, ?, NULL)`,
		tok.Hash, tok.Project, tok.Site, micro(tok.ExpiresAt), tok.CreatedBy)
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create enrolment token: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create enrolment token: %w", err)
	}
	return nil
}

// RedeemEnrolmentToken implements [MetaDB] with one conditional UPDATE, so
// the check and the use cannot be split by a concurrent redeemer.
func (s *SQLite) RedeemEnrolmentToken(ctx context.Context, hash string, now time.Time) (*EnrolmentToken, error) {
	now = nowOr(now)
	var tok EnrolmentToken
	var exp, used sql.NullInt64
	err := s.db.QueryRowContext(ctx, `UPDATE enrolment_tokens SET used_at = ?
		WHERE hash = ? AND used_at IS NULL AND expires_at > ?
		RETURNING hash, project, site, expires_at, created_by, used_at`,
		micro(now), hash, micro(now)).Scan(&tok.Hash, &tok.Project, &tok.Site, &exp, &tok.CreatedBy, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: redeem enrolment token: %w", ErrTokenInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("store: redeem enrolment token: %w", err)
	}
	tok.ExpiresAt, tok.UsedAt = fromMicro(exp), fromMicro(used)
	return &tok, nil
}

// PutAgent implements [MetaDB].
func (s *SQLite) PutAgent(ctx context.Context, a Agent) error {
	if a.ID == "" || a.Project == "" {
		return fmt.Errorf("store: put agent: %w: id and project are required", ErrInvalidRecord)
	}
	revokedAt := sql.NullInt64{}
	if a.Revoked {
		revokedAt = micro(nowOr(a.RevokedAt))
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO agents
		(id, project, site, cert_serial, public_key, enrolled_at, revoked, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			project = excluded.project,
			site = excluded.site,
			cert_serial = excluded.cert_serial,
			public_key = excluded.public_key,
			enrolled_at = excluded.enrolled_at,
			revoked = CASE WHEN agents.revoked = 1 THEN 1 ELSE excluded.revoked END,
			revoked_at = CASE WHEN agents.revoked = 1 THEN agents.revoked_at ELSE excluded.revoked_at END`,
		a.ID, a.Project, a.Site, a.CertSerial, a.PublicKey, micro(a.EnrolledAt), a.Revoked, revokedAt)
	if err != nil {
		return fmt.Errorf("store: put agent %s: %w", a.ID, err)
	}
	return nil
}

// agentColumns lists the agents columns in scanAgent's order.
const agentColumns = `id, project, site, cert_serial, public_key, enrolled_at, revoked, revoked_at`

// scanAgent reads one row of agentColumns.
func scanAgent(row scanner) (*Agent, error) {
	var a Agent
	var enrolled, revoked sql.NullInt64
	if err := row.Scan(&a.ID, &a.Project, &a.Site, &a.CertSerial, &a.PublicKey, &enrolled, &a.Revoked, &revoked); err != nil {
		return nil, err
	}
	a.EnrolledAt, a.RevokedAt = fromMicro(enrolled), fromMicro(revoked)
	return &a, nil
}

// GetAgent implements [MetaDB].
func (s *SQLite) GetAgent(ctx context.Context, id string) (*Agent, error) {
	a, err := scanAgent(s.db.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get agent %s: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get agent %s: %w", id, err)
	}
	return a, nil
}

// ListAgents implements [MetaDB].
func (s *SQLite) ListAgents(ctx context.Context, project string) ([]Agent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents
		WHERE ? = '' OR project = ? ORDER BY id`, project, project)
	if err != nil {
		return nil, fmt.Errorf("store: list agents: %w", err)
	}
	defer rows.Close()
	var out []Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list agents: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list agents: %w", err)
	}
	return out, nil
}

// RevokeAgent implements [MetaDB].
func (s *SQLite) RevokeAgent(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE agents SET revoked = 1, revoked_at = ?
		WHERE id = ? AND revoked = 0`, micro(nowOr(at)), id)
	if err != nil {
		return fmt.Errorf("store: revoke agent %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: revoke agent %s: %w", id, err)
	} else if n == 1 {
		return nil
	}
	var exists int
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM agents WHERE id = ?`, id).Scan(&exists)
	if err != nil {
		return fmt.Errorf("store: revoke agent %s: %w", id, err)
	}
	if exists == 0 {
		return fmt.Errorf("store: revoke agent %s: %w", id, ErrNotExist)
	}
	return nil // already revoked
}

// RecordDownload implements [MetaDB].
func (s *SQLite) RecordDownload(ctx context.Context, d Download) error {
	if d.FileID == "" || d.Principal == "" {
		return fmt.Errorf("store: record download: %w: file_id and principal are required", ErrInvalidRecord)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO downloads (file_id, principal, at) VALUES (?, ?, ?)`,
		d.FileID, d.Principal, micro(nowOr(d.At)))
	if err != nil {
		return fmt.Errorf("store: record download %s: %w", d.FileID, err)
	}
	return nil
}

// ListDownloads implements [MetaDB].
func (s *SQLite) ListDownloads(ctx context.Context, fileID string) ([]Download, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT file_id, principal, at FROM downloads
		WHERE file_id = ? ORDER BY at, id`, fileID)
	if err != nil {
		return nil, fmt.Errorf("store: list downloads: %w", err)
	}
	defer rows.Close()
	var out []Download
	for rows.Next() {
		var d Download
		var at sql.NullInt64
		if err := rows.Scan(&d.FileID, &d.Principal, &at); err != nil {
			return nil, fmt.Errorf("store: list downloads: %w", err)
		}
		d.At = fromMicro(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list downloads: %w", err)
	}
	return out, nil
}
