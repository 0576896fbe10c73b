package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// signatureColumns lists the signatures columns in scanSignature's order.
const signatureColumns = `id, account, printed_name, meaning, signed_at, record_type, record_id, record_sha256, seal`

// scanSignature reads one row of signatureColumns.
func scanSignature(row scanner) (*Signature, error) {
	var sig Signature
	var at sql.NullInt64
	if err := row.Scan(&sig.ID, &sig.Account, &sig.PrintedName, &sig.Meaning, &at, &sig.RecordType,
		&sig.RecordID, &sig.RecordSHA256, &sig.Seal); err != nil {
		return nil, err
	}
	sig.SignedAt = fromMicro(at)
	return &sig, nil
}

// PutSignature implements [AccountStore].
func (s *SQLiteAccounts) PutSignature(ctx context.Context, sig Signature) (int64, error) {
	if sig.Account == "" || sig.Meaning == "" || sig.RecordType == "" || sig.RecordSHA256 == "" || len(sig.Seal) == 0 {
		return 0, fmt.Errorf("store: put signature: %w: account, meaning, record and seal are required", ErrInvalidRecord)
	}
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO signatures
		(account, printed_name, meaning, signed_at, record_type, record_id, record_sha256, seal)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		sig.Account, sig.PrintedName, sig.Meaning, micro(nowOr(sig.SignedAt)), sig.RecordType, sig.RecordID,
		sig.RecordSHA256, sig.Seal).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: put signature: %w", err)
	}
	return id, nil
}

// GetSignature implements [AccountStore].
func (s *SQLiteAccounts) GetSignature(ctx context.Context, id int64) (*Signature, error) {
	sig, err := scanSignature(s.db.QueryRowContext(ctx, `SELECT `+signatureColumns+` FROM signatures WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get signature %d: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get signature %d: %w", id, err)
	}
	return sig, nil
}

// ListSignatures implements [AccountStore].
func (s *SQLiteAccounts) ListSignatures(ctx context.Context, recordType, recordID string) ([]Signature, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+signatureColumns+` FROM signatures
		WHERE (? = '' OR record_type = ?) AND (? = '' OR record_id = ?) ORDER BY id`,
		recordType, recordType, recordID, recordID)
	if err != nil {
		return nil, fmt.Errorf("store: list signatures: %w", err)
	}
	defer rows.Close()
	var out []Signature
	for rows.Next() {
		sig, err := scanSignature(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list signatures: %w", err)
		}
		out = append(out, *sig)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list signatures: %w", err)
	}
	return out, nil
}

// policyColumns lists the policy_revisions columns in scanPolicy's order.
const policyColumns = `id, policy_id, version, hash, yaml, created_by, created_at`

// scanPolicy reads one row of policyColumns.
func scanPolicy(row scanner) (*PolicyRevision, error) {
	var p PolicyRevision
	var at sql.NullInt64
	if err := row.Scan(&p.ID, &p.PolicyID, &p.Version, &p.Hash, &p.YAML, &p.CreatedBy, &at); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMicro(at)
	return &p, nil
}

// PutPolicy implements [AccountStore] in one immediate transaction.
func (s *SQLiteAccounts) PutPolicy(ctx context.Context, p PolicyRevision) (*PolicyRevision, bool, error) {
	if p.PolicyID == "" || p.Hash == "" || p.YAML == "" {
		return nil, false, fmt.Errorf("store: put policy: %w: policy id, hash and yaml are required", ErrInvalidRecord)
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	defer tx.Rollback()
	old, err := scanPolicy(tx.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM policy_revisions
		WHERE policy_id = ? AND hash = ?`, p.PolicyID, p.Hash))
	if err == nil {
		return old, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	var approved int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM policy_approvals a JOIN policy_revisions r
		ON a.policy_revision = r.id WHERE r.policy_id = ? AND r.version = ?`, p.PolicyID, p.Version).Scan(&approved); err != nil {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	if approved > 0 {
		return nil, false, fmt.Errorf("store: put policy %s version %d: approved versions never change: %w", p.PolicyID, p.Version, ErrConflict)
	}
	p.CreatedAt = nowOr(p.CreatedAt).UTC().Truncate(time.Microsecond)
	err = tx.QueryRowContext(ctx, `INSERT INTO policy_revisions (policy_id, version, hash, yaml, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, p.PolicyID, p.Version, p.Hash, p.YAML, p.CreatedBy, micro(p.CreatedAt)).Scan(&p.ID)
	if err != nil {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("store: put policy: %w", err)
	}
	return &p, true, nil
}

// GetPolicy implements [AccountStore].
func (s *SQLiteAccounts) GetPolicy(ctx context.Context, id int64) (*PolicyRevision, error) {
	p, err := scanPolicy(s.db.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM policy_revisions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get policy %d: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get policy %d: %w", id, err)
	}
	return p, nil
}

// ListPolicies implements [AccountStore].
func (s *SQLiteAccounts) ListPolicies(ctx context.Context, policyID string) ([]PolicyRevision, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+policyColumns+` FROM policy_revisions
		WHERE ? = '' OR policy_id = ? ORDER BY id DESC`, policyID, policyID)
	if err != nil {
		return nil, fmt.Errorf("store: list policies: %w", err)
	}
	defer rows.Close()
	var out []PolicyRevision
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list policies: %w", err)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list policies: %w", err)
	}
	return out, nil
}

// PutApproval implements [AccountStore].
func (s *SQLiteAccounts) PutApproval(ctx context.Context, a PolicyApproval) error {
	if a.Project == "" || a.PolicyHash == "" || a.SignatureID == 0 {
		return fmt.Errorf("store: put approval: %w: project, policy hash and signature are required", ErrInvalidRecord)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO policy_approvals
		(project, policy_revision, policy_hash, signature_id, approved_at) VALUES (?, ?, ?, ?, ?)`,
		a.Project, a.PolicyRevision, a.PolicyHash, a.SignatureID, micro(nowOr(a.ApprovedAt)))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: put approval: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: put approval: %w", err)
	}
	return nil
}

// ListApprovals implements [AccountStore].
func (s *SQLiteAccounts) ListApprovals(ctx context.Context, project string) ([]PolicyApproval, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT project, policy_revision, policy_hash, signature_id, approved_at
		FROM policy_approvals WHERE ? = '' OR project = ? ORDER BY approved_at, project, policy_revision`, project, project)
	if err != nil {
		return nil, fmt.Errorf("store: list approvals: %w", err)
	}
	defer rows.Close()
	var out []PolicyApproval
	for rows.Next() {
		var a PolicyApproval
		var at sql.NullInt64
		if err := rows.Scan(&a.Project, &a.PolicyRevision, &a.PolicyHash, &a.SignatureID, &at); err != nil {
			return nil, fmt.Errorf("store: list approvals: %w", err)
		}
		a.ApprovedAt = fromMicro(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list approvals: %w", err)
	}
	return out, nil
}

// PutRelease implements [AccountStore].
func (s *SQLiteAccounts) PutRelease(ctx context.Context, r StudyRelease) error {
	if r.Project == "" || r.StudyUID == "" || r.SignatureID == 0 {
		return fmt.Errorf("store: put release: %w: project, study and signature are required", ErrInvalidRecord)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO study_releases (project, study_uid, signature_id, released_at)
		VALUES (?, ?, ?, ?)`, r.Project, r.StudyUID, r.SignatureID, micro(nowOr(r.ReleasedAt)))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: put release: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: put release: %w", err)
	}
	return nil
}

// ListReleases implements [AccountStore].
func (s *SQLiteAccounts) ListReleases(ctx context.Context, project string) ([]StudyRelease, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT project, study_uid, signature_id, released_at
		FROM study_releases WHERE project = ? ORDER BY released_at, study_uid`, project)
	if err != nil {
		return nil, fmt.Errorf("store: list releases: %w", err)
	}
	defer rows.Close()
	var out []StudyRelease
	for rows.Next() {
		var r StudyRelease
		var at sql.NullInt64
		if err := rows.Scan(&r.Project, &r.StudyUID, &r.SignatureID, &at); err != nil {
			return nil, fmt.Errorf("store: list releases: %w", err)
		}
		r.ReleasedAt = fromMicro(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list releases: %w", err)
	}
	return out, nil
}
