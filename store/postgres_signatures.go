package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// scanPGSignature reads one row of signatureColumns.
func scanPGSignature(row pgx.Row) (*Signature, error) {
	var sig Signature
	var at *time.Time
	if err := row.Scan(&sig.ID, &sig.Account, &sig.PrintedName, &sig.Meaning, &at, &sig.RecordType,
		&sig.RecordID, &sig.RecordSHA256, &sig.Seal); err != nil {
		return nil, err
	}
	sig.SignedAt = fromPGTime(at)
	return &sig, nil
}

// PutSignature implements [AccountStore].
func (s *PostgresAccounts) PutSignature(ctx context.Context, sig Signature) (int64, error) {
	if sig.Account == "" || sig.Meaning == "" || sig.RecordType == "" || sig.RecordSHA256 == "" || len(sig.Seal) == 0 {
		return 0, fmt.Errorf("store: put signature: %w: account, meaning, record and seal are required", ErrInvalidRecord)
	}
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO signatures
		(account, printed_name, meaning, signed_at, record_type, record_id, record_sha256, seal)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		sig.Account, sig.PrintedName, sig.Meaning, pgTime(nowOr(sig.SignedAt)), sig.RecordType, sig.RecordID,
		sig.RecordSHA256, sig.Seal).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: put signature: %w", err)
	}
	return id, nil
}

// GetSignature implements [AccountStore].
func (s *PostgresAccounts) GetSignature(ctx context.Context, id int64) (*Signature, error) {
	sig, err := scanPGSignature(s.pool.QueryRow(ctx, `SELECT `+signatureColumns+` FROM signatures WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: get signature %d: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get signature %d: %w", id, err)
	}
	return sig, nil
}

// ListSignatures implements [AccountStore].
func (s *PostgresAccounts) ListSignatures(ctx context.Context, recordType, recordID string) ([]Signature, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signatureColumns+` FROM signatures
		WHERE ($1::text = '' OR record_type = $1) AND ($2::text = '' OR record_id = $2) ORDER BY id`,
		recordType, recordID)
	if err != nil {
		return nil, fmt.Errorf("store: list signatures: %w", err)
	}
	out, err := collectPG(rows, scanPGSignature)
	if err != nil {
		return nil, fmt.Errorf("store: list signatures: %w", err)
	}
	return out, nil
}

// scanPGPolicy reads one row of policyColumns.
func scanPGPolicy(row pgx.Row) (*PolicyRevision, error) {
	var p PolicyRevision
	var at *time.Time
	if err := row.Scan(&p.ID, &p.PolicyID, &p.Version, &p.Hash, &p.YAML, &p.CreatedBy, &at); err != nil {
		return nil, err
	}
	p.CreatedAt = fromPGTime(at)
	return &p, nil
}

// PutPolicy implements [AccountStore] in one transaction holding the
// policy registry's advisory lock, so that writers on every relay see each
// other's revisions and approvals, as SQLite's immediate transaction does.
func (s *PostgresAccounts) PutPolicy(ctx context.Context, p PolicyRevision) (*PolicyRevision, bool, error) {
	if p.PolicyID == "" || p.Hash == "" || p.YAML == "" {
		return nil, false, fmt.Errorf("store: put policy: %w: policy id, hash and yaml are required", ErrInvalidRecord)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := lockPolicies(ctx, tx); err != nil {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	old, err := scanPGPolicy(tx.QueryRow(ctx, `SELECT `+policyColumns+` FROM policy_revisions
		WHERE policy_id = $1 AND hash = $2`, p.PolicyID, p.Hash))
	if err == nil {
		return old, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	var approved int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM policy_approvals a JOIN policy_revisions r
		ON a.policy_revision = r.id WHERE r.policy_id = $1 AND r.version = $2`, p.PolicyID, p.Version).Scan(&approved); err != nil {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	if approved > 0 {
		return nil, false, fmt.Errorf("store: put policy %s version %d: approved versions never change: %w", p.PolicyID, p.Version, ErrConflict)
	}
	p.CreatedAt = nowOr(p.CreatedAt).UTC().Truncate(time.Microsecond)
	err = tx.QueryRow(ctx, `INSERT INTO policy_revisions (policy_id, version, hash, yaml, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, p.PolicyID, p.Version, p.Hash, p.YAML, p.CreatedBy, p.CreatedAt).Scan(&p.ID)
	if err != nil {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	return &p, true, nil
}

// lockPolicies takes the policy registry's advisory lock until tx ends.
func lockPolicies(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgLockPolicy)
	return err
}

// GetPolicy implements [AccountStore].
func (s *PostgresAccounts) GetPolicy(ctx context.Context, id int64) (*PolicyRevision, error) {
	p, err := scanPGPolicy(s.pool.QueryRow(ctx, `SELECT `+policyColumns+` FROM policy_revisions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: get policy %d: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get policy %d: %w", id, err)
	}
	return p, nil
}

// ListPolicies implements [AccountStore].
func (s *PostgresAccounts) ListPolicies(ctx context.Context, policyID string) ([]PolicyRevision, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+policyColumns+` FROM policy_revisions
		WHERE $1::text = '' OR policy_id = $1 ORDER BY id DESC`, policyID)
	if err != nil {
		return nil, fmt.Errorf("store: list policies: %w", err)
	}
	out, err := collectPG(rows, scanPGPolicy)
	if err != nil {
		return nil, fmt.Errorf("store: list policies: %w", err)
	}
	return out, nil
}

// PutApproval implements [AccountStore]. It takes the policy registry's
// advisory lock too, so that it and PutPolicy's check that a version is
// unapproved never interleave.
func (s *PostgresAccounts) PutApproval(ctx context.Context, a PolicyApproval) error {
	if a.Project == "" || a.PolicyHash == "" || a.SignatureID == 0 {
		return fmt.Errorf("store: put approval: %w: project, policy hash and signature are required", ErrInvalidRecord)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockPolicies(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO policy_approvals
			(project, policy_revision, policy_hash, signature_id, approved_at) VALUES ($1, $2, $3, $4, $5)`,
			a.Project, a.PolicyRevision, a.PolicyHash, a.SignatureID, pgTime(nowOr(a.ApprovedAt)))
		return err
	})
	if isPGUniqueViolation(err) {
		return fmt.Errorf("store: put approval: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: put approval: %w", err)
	}
	return nil
}

// ListApprovals implements [AccountStore].
func (s *PostgresAccounts) ListApprovals(ctx context.Context, project string) ([]PolicyApproval, error) {
	rows, err := s.pool.Query(ctx, `SELECT project, policy_revision, policy_hash, signature_id, approved_at
		FROM policy_approvals WHERE $1::text = '' OR project = $1
		ORDER BY approved_at, project COLLATE "C", policy_revision`, project)
	if err != nil {
		return nil, fmt.Errorf("store: list approvals: %w", err)
	}
	out, err := collectPG(rows, func(row pgx.Row) (*PolicyApproval, error) {
		var a PolicyApproval
		var at *time.Time
		err := row.Scan(&a.Project, &a.PolicyRevision, &a.PolicyHash, &a.SignatureID, &at)
		a.ApprovedAt = fromPGTime(at)
		return &a, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list approvals: %w", err)
	}
	return out, nil
}

// PutRelease implements [AccountStore].
func (s *PostgresAccounts) PutRelease(ctx context.Context, r StudyRelease) error {
	if r.Project == "" || r.StudyUID == "" || r.SignatureID == 0 {
		return fmt.Errorf("store: put release: %w: project, study and signature are required", ErrInvalidRecord)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO study_releases (project, study_uid, signature_id, released_at)
		VALUES ($1, $2, $3, $4)`, r.Project, r.StudyUID, r.SignatureID, pgTime(nowOr(r.ReleasedAt)))
	if isPGUniqueViolation(err) {
		return fmt.Errorf("store: put release: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: put release: %w", err)
	}
	return nil
}

// ListReleases implements [AccountStore].
func (s *PostgresAccounts) ListReleases(ctx context.Context, project string) ([]StudyRelease, error) {
	rows, err := s.pool.Query(ctx, `SELECT project, study_uid, signature_id, released_at
		FROM study_releases WHERE project = $1 ORDER BY released_at, study_uid COLLATE "C"`, project)
	if err != nil {
		return nil, fmt.Errorf("store: list releases: %w", err)
	}
	out, err := collectPG(rows, func(row pgx.Row) (*StudyRelease, error) {
		var r StudyRelease
		var at *time.Time
		err := row.Scan(&r.Project, &r.StudyUID, &r.SignatureID, &at)
		r.ReleasedAt = fromPGTime(at)
		return &r, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list releases: %w", err)
	}
	return out, nil
}
