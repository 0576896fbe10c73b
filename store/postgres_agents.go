package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CreateEnrolmentToken implements [MetaDB].
func (p *Postgres) CreateEnrolmentToken(ctx context.Context, tok EnrolmentToken) error {
	if tok.Hash == "" || tok.Project == "" || tok.Site == "" || tok.ExpiresAt.IsZero() {
		return fmt.Errorf("store: create enrolment token: %w: hash, project, site and expires_at are required", ErrInvalidRecord)
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO enrolment_tokens
		(hash, project, site, expires_at, created_by, used_at) VALUES ($1, $2, $3, $4, $5, NULL)`,
		tok.Hash, tok.Project, tok.Site, pgTime(tok.ExpiresAt), tok.CreatedBy)
	if isPGUniqueViolation(err) {
		return fmt.Errorf("store: create enrolment token: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create enrolment token: %w", err)
	}
	return nil
}

// RedeemEnrolmentToken implements [MetaDB] with one conditional UPDATE: a
// concurrent redeemer waits on the row lock, then re-checks the condition
// against the committed row and finds the token used.
func (p *Postgres) RedeemEnrolmentToken(ctx context.Context, hash string, now time.Time) (*EnrolmentToken, error) {
	at := pgTime(nowOr(now))
	var tok EnrolmentToken
	var exp, used *time.Time
	err := p.pool.QueryRow(ctx, `UPDATE enrolment_tokens SET used_at = $1
		WHERE hash = $2 AND used_at IS NULL AND expires_at > $1
		RETURNING hash, project, site, expires_at, created_by, used_at`,
		at, hash).Scan(&tok.Hash, &tok.Project, &tok.Site, &exp, &tok.CreatedBy, &used)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: redeem enrolment token: %w", ErrTokenInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("store: redeem enrolment token: %w", err)
	}
	tok.ExpiresAt, tok.UsedAt = fromPGTime(exp), fromPGTime(used)
	return &tok, nil
}

// PutAgent implements [MetaDB].
func (p *Postgres) PutAgent(ctx context.Context, a Agent) error {
	if a.ID == "" || a.Project == "" {
		return fmt.Errorf("store: put agent: %w: id and project are required", ErrInvalidRecord)
	}
	var revokedAt *time.Time
	if a.Revoked {
		revokedAt = pgTime(nowOr(a.RevokedAt))
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO agents
		(id, project, site, cert_serial, public_key, enrolled_at, revoked, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET
			project = excluded.project,
			site = excluded.site,
			cert_serial = excluded.cert_serial,
			public_key = excluded.public_key,
			enrolled_at = excluded.enrolled_at,
			revoked = agents.revoked OR excluded.revoked,
			revoked_at = CASE WHEN agents.revoked THEN agents.revoked_at ELSE excluded.revoked_at END`,
		a.ID, a.Project, a.Site, a.CertSerial, a.PublicKey, pgTime(a.EnrolledAt), a.Revoked, revokedAt)
	if err != nil {
		return fmt.Errorf("store: put agent %s: %w", a.ID, err)
	}
	return nil
}

// scanPGAgent reads one row of agentColumns.
func scanPGAgent(row pgx.Row) (*Agent, error) {
	var a Agent
	var enrolled, revoked *time.Time
	if err := row.Scan(&a.ID, &a.Project, &a.Site, &a.CertSerial, &a.PublicKey, &enrolled, &a.Revoked, &revoked); err != nil {
		return nil, err
	}
	a.EnrolledAt, a.RevokedAt = fromPGTime(enrolled), fromPGTime(revoked)
	return &a, nil
}

// GetAgent implements [MetaDB].
func (p *Postgres) GetAgent(ctx context.Context, id string) (*Agent, error) {
	a, err := scanPGAgent(p.pool.QueryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: get agent %s: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get agent %s: %w", id, err)
	}
	return a, nil
}

// ListAgents implements [MetaDB].
func (p *Postgres) ListAgents(ctx context.Context, project string) ([]Agent, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+agentColumns+` FROM agents
		WHERE $1 = '' OR project = $1 ORDER BY id COLLATE "C"`, project)
	if err != nil {
		return nil, fmt.Errorf("store: list agents: %w", err)
	}
	defer rows.Close()
	var out []Agent
	for rows.Next() {
		a, err := scanPGAgent(rows)
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
func (p *Postgres) RevokeAgent(ctx context.Context, id string, at time.Time) error {
	tag, err := p.pool.Exec(ctx, `UPDATE agents SET revoked = TRUE, revoked_at = $1
		WHERE id = $2 AND NOT revoked`, pgTime(nowOr(at)), id)
	if err != nil {
		return fmt.Errorf("store: revoke agent %s: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	err = p.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1)`, id).Scan(&exists)
	if err != nil {
		return fmt.Errorf("store: revoke agent %s: %w", id, err)
	}
	if !exists {
		return fmt.Errorf("store: revoke agent %s: %w", id, ErrNotExist)
	}
	return nil // already revoked
}

// RecordDownload implements [MetaDB].
func (p *Postgres) RecordDownload(ctx context.Context, d Download) error {
	if d.FileID == "" || d.Principal == "" {
		return fmt.Errorf("store: record download: %w: file_id and principal are required", ErrInvalidRecord)
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO downloads (file_id, principal, at) VALUES ($1, $2, $3)`,
		d.FileID, d.Principal, pgTime(nowOr(d.At)))
	if err != nil {
		return fmt.Errorf("store: record download %s: %w", d.FileID, err)
	}
	return nil
}

// ListDownloads implements [MetaDB].
func (p *Postgres) ListDownloads(ctx context.Context, fileID string) ([]Download, error) {
	rows, err := p.pool.Query(ctx, `SELECT file_id, principal, at FROM downloads
		WHERE file_id = $1 ORDER BY at, id`, fileID)
	if err != nil {
		return nil, fmt.Errorf("store: list downloads: %w", err)
	}
	defer rows.Close()
	var out []Download
	for rows.Next() {
		var d Download
		var at *time.Time
		if err := rows.Scan(&d.FileID, &d.Principal, &at); err != nil {
			return nil, fmt.Errorf("store: list downloads: %w", err)
		}
		d.At = fromPGTime(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list downloads: %w", err)
	}
	return out, nil
}
