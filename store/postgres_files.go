package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CommitFile implements [MetaDB] as [SQLite.CommitFile] does: one INSERT
// ... ON CONFLICT DO NOTHING, so that the unique constraints on file_id
// and (project, instance_uid) decide races between relays (a concurrent
// inserter of the same key waits for the first to commit), and the loser
// reads the winner's record.
func (p *Postgres) CommitFile(ctx context.Context, rec FileRecord) (*FileRecord, error) {
	if err := rec.validate(); err != nil {
		return nil, fmt.Errorf("store: commit file: %w", err)
	}
	tag, err := p.pool.Exec(ctx, `INSERT INTO files (`+fileColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT DO NOTHING`,
		rec.FileID, rec.Project, rec.Site, rec.AgentID, rec.StudyUID, rec.SeriesUID, rec.InstanceUID,
		rec.SOPClassUID, rec.Modality, rec.ObjectKey, rec.Size, rec.SHA256, rec.PlainSHA256,
		rec.Manifest, rec.Receipt, pgTime(nowOr(rec.CommittedAt)))
	if err != nil {
		return nil, fmt.Errorf("store: commit file %s: %w", rec.FileID, err)
	}
	if tag.RowsAffected() == 1 {
		return nil, nil
	}

	existing, err := p.queryFile(ctx, `WHERE file_id = $1`, rec.FileID)
	if err == nil {
		return existing, nil // idempotent re-send
	}
	if !errors.Is(err, ErrNotExist) {
		return nil, fmt.Errorf("store: commit file %s: %w", rec.FileID, err)
	}
	existing, err = p.queryFile(ctx, `WHERE project = $1 AND instance_uid = $2`, rec.Project, rec.InstanceUID)
	if err != nil {
		return nil, fmt.Errorf("store: commit file %s: %w", rec.FileID, err)
	}
	if existing.PlainSHA256 == rec.PlainSHA256 {
		return existing, nil // the same file, sealed again
	}
	_, err = p.pool.Exec(ctx, `INSERT INTO conflicts
		(project, instance_uid, existing_file_id, file_id, site, agent_id, sha256, plain_sha256, detected_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT DO NOTHING`,
		rec.Project, rec.InstanceUID, existing.FileID, rec.FileID, rec.Site, rec.AgentID,
		rec.SHA256, rec.PlainSHA256, pgTime(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("store: commit file %s: record conflict: %w", rec.FileID, err)
	}
	return existing, fmt.Errorf("store: commit file %s: instance held by file %s: %w", rec.FileID, existing.FileID, ErrConflict)
}

// GetFile implements [MetaDB].
func (p *Postgres) GetFile(ctx context.Context, fileID string) (*FileRecord, error) {
	rec, err := p.queryFile(ctx, `WHERE file_id = $1`, fileID)
	if err != nil {
		return nil, fmt.Errorf("store: get file %s: %w", fileID, err)
	}
	return rec, nil
}

// queryFile returns the one file matching where, or ErrNotExist.
func (p *Postgres) queryFile(ctx context.Context, where string, args ...any) (*FileRecord, error) {
	rec, err := scanPGFile(p.pool.QueryRow(ctx, `SELECT `+fileColumns+` FROM files `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotExist
	}
	return rec, err
}

// scanPGFile reads one row of fileColumns.
func scanPGFile(row pgx.Row) (*FileRecord, error) {
	var r FileRecord
	var at *time.Time
	err := row.Scan(&r.FileID, &r.Project, &r.Site, &r.AgentID, &r.StudyUID, &r.SeriesUID, &r.InstanceUID,
		&r.SOPClassUID, &r.Modality, &r.ObjectKey, &r.Size, &r.SHA256, &r.PlainSHA256,
		&r.Manifest, &r.Receipt, &at)
	if err != nil {
		return nil, err
	}
	r.CommittedAt = fromPGTime(at)
	return &r, nil
}

// ListFiles implements [MetaDB].
func (p *Postgres) ListFiles(ctx context.Context, project, studyUID string) ([]FileRecord, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+fileColumns+` FROM files
		WHERE project = $1 AND study_uid = $2
		ORDER BY series_uid COLLATE "C", instance_uid COLLATE "C"`, project, studyUID)
	if err != nil {
		return nil, fmt.Errorf("store: list files: %w", err)
	}
	defer rows.Close()
	var out []FileRecord
	for rows.Next() {
		rec, err := scanPGFile(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list files: %w", err)
		}
		out = append(out, *rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list files: %w", err)
	}
	return out, nil
}

// ListStudies implements [MetaDB] in one query (PostgreSQL aggregates the
// distinct modalities itself).
func (p *Postgres) ListStudies(ctx context.Context, project string) ([]StudySummary, error) {
	rows, err := p.pool.Query(ctx, `SELECT study_uid,
		COALESCE(array_agg(DISTINCT modality COLLATE "C" ORDER BY modality COLLATE "C") FILTER (WHERE modality <> ''), '{}'),
		COUNT(DISTINCT series_uid), COUNT(*), SUM(size)::BIGINT, MIN(committed_at), MAX(committed_at)
		FROM files WHERE project = $1 GROUP BY study_uid ORDER BY study_uid COLLATE "C"`, project)
	if err != nil {
		return nil, fmt.Errorf("store: list studies: %w", err)
	}
	defer rows.Close()
	var out []StudySummary
	for rows.Next() {
		var st StudySummary
		var first, last *time.Time
		if err := rows.Scan(&st.StudyUID, &st.Modalities, &st.Series, &st.Files, &st.Bytes, &first, &last); err != nil {
			return nil, fmt.Errorf("store: list studies: %w", err)
		}
		if len(st.Modalities) == 0 {
			st.Modalities = nil
		}
		st.FirstAt, st.LastAt = fromPGTime(first), fromPGTime(last)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list studies: %w", err)
	}
	return out, nil
}

// ListConflicts implements [MetaDB].
func (p *Postgres) ListConflicts(ctx context.Context, project string) ([]Conflict, error) {
	rows, err := p.pool.Query(ctx, `SELECT project, instance_uid, existing_file_id, file_id, site,
		agent_id, sha256, plain_sha256, detected_at
		FROM conflicts WHERE project = $1 ORDER BY detected_at, id`, project)
	if err != nil {
		return nil, fmt.Errorf("store: list conflicts: %w", err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var c Conflict
		var at *time.Time
		if err := rows.Scan(&c.Project, &c.InstanceUID, &c.ExistingFileID, &c.FileID, &c.Site,
			&c.AgentID, &c.SHA256, &c.PlainSHA256, &at); err != nil {
			return nil, fmt.Errorf("store: list conflicts: %w", err)
		}
		c.DetectedAt = fromPGTime(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list conflicts: %w", err)
	}
	return out, nil
}

// FindInstance implements [InstanceFinder]: one lookup on the (project,
// instance_uid) unique index.
func (p *Postgres) FindInstance(ctx context.Context, project, instanceUID string) (*FileRecord, error) {
	rec, err := p.queryFile(ctx, `WHERE project = $1 AND instance_uid = $2`, project, instanceUID)
	if err != nil {
		return nil, fmt.Errorf("store: find instance: %w", err)
	}
	return rec, nil
}

var _ InstanceFinder = (*Postgres)(nil)
