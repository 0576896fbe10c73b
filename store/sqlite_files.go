package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// fileColumns lists the files columns in scanFile's order.
const fileColumns = `file_id, project, site, agent_id, study_uid, series_uid, instance_uid,
	sop_class_uid, modality, object_key, size, sha256, plain_sha256, manifest, receipt, committed_at`

// validate checks a FileRecord's required fields.
func (r *FileRecord) validate() error {
	switch {
	case r.FileID == "", r.Project == "", r.InstanceUID == "", r.ObjectKey == "",
		r.SHA256 == "", r.PlainSHA256 == "":
		return fmt.Errorf("%w: file_id, project, instance_uid, object_key, sha256 and plain_sha256 are required", ErrInvalidRecord)
	case r.Size < 0:
		return fmt.Errorf("%w: negative size", ErrInvalidRecord)
	}
	return nil
}

// CommitFile implements [MetaDB]. The insert is one statement; the unique
// constraints on file_id and (project, instance_uid) decide races between
// concurrent writers, and the loser reads the winner's record.
func (s *SQLite) CommitFile(ctx context.Context, rec FileRecord) (*FileRecord, error) {
	if err := rec.validate(); err != nil {
		return nil, fmt.Errorf("store: commit file: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO files (`+fileColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		rec.FileID, rec.Project, rec.Site, rec.AgentID, rec.StudyUID, rec.SeriesUID, rec.InstanceUID,
		rec.SOPClassUID, rec.Modality, rec.ObjectKey, rec.Size, rec.SHA256, rec.PlainSHA256,
		rec.Manifest, rec.Receipt, micro(nowOr(rec.CommittedAt)))
	if err != nil {
		return nil, fmt.Errorf("store: commit file %s: %w", rec.FileID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("store: commit file %s: %w", rec.FileID, err)
	} else if n == 1 {
		return nil, nil
	}

	existing, err := s.queryFile(ctx, `WHERE file_id = ?`, rec.FileID)
	if err == nil {
		return existing, nil // idempotent re-send
	}
	if !errors.Is(err, ErrNotExist) {
		return nil, fmt.Errorf("store: commit file %s: %w", rec.FileID, err)
	}
	existing, err = s.queryFile(ctx, `WHERE project = ? AND instance_uid = ?`, rec.Project, rec.InstanceUID)
	if err != nil {
		return nil, fmt.Errorf("store: commit file %s: %w", rec.FileID, err)
	}
	if existing.PlainSHA256 == rec.PlainSHA256 {
		return existing, nil // the same file, sealed again
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO conflicts
		(project, instance_uid, existing_file_id, file_id, site, agent_id, sha256, plain_sha256, detected_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		rec.Project, rec.InstanceUID, existing.FileID, rec.FileID, rec.Site, rec.AgentID,
		rec.SHA256, rec.PlainSHA256, micro(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("store: commit file %s: record conflict: %w", rec.FileID, err)
	}
	return existing, fmt.Errorf("store: commit file %s: instance held by file %s: %w", rec.FileID, existing.FileID, ErrConflict)
}

// GetFile implements [MetaDB].
func (s *SQLite) GetFile(ctx context.Context, fileID string) (*FileRecord, error) {
	rec, err := s.queryFile(ctx, `WHERE file_id = ?`, fileID)
	if err != nil {
		return nil, fmt.Errorf("store: get file %s: %w", fileID, err)
	}
	return rec, nil
}

// FindInstance returns the committed file that holds instanceUID in
// project, or [ErrNotExist]. It is one lookup on the (project,
// instance_uid) unique index (the files table's UNIQUE constraint, so no
// index of its own is needed), whatever the size of the study.
func (s *SQLite) FindInstance(ctx context.Context, project, instanceUID string) (*FileRecord, error) {
	rec, err := s.queryFile(ctx, `WHERE project = ? AND instance_uid = ?`, project, instanceUID)
	if err != nil {
		return nil, fmt.Errorf("store: find instance: %w", err)
	}
	return rec, nil
}

// queryFile returns the one file matching where, or ErrNotExist.
func (s *SQLite) queryFile(ctx context.Context, where string, args ...any) (*FileRecord, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM files `+where, args...)
	rec, err := scanFile(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotExist
	}
	return rec, err
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanFile reads one row of fileColumns.
func scanFile(row scanner) (*FileRecord, error) {
	var r FileRecord
	var at sql.NullInt64
	err := row.Scan(&r.FileID, &r.Project, &r.Site, &r.AgentID, &r.StudyUID, &r.SeriesUID, &r.InstanceUID,
		&r.SOPClassUID, &r.Modality, &r.ObjectKey, &r.Size, &r.SHA256, &r.PlainSHA256,
		&r.Manifest, &r.Receipt, &at)
	if err != nil {
		return nil, err
	}
	r.CommittedAt = fromMicro(at)
	return &r, nil
}

// ListFiles implements [MetaDB].
func (s *SQLite) ListFiles(ctx context.Context, project, studyUID string) ([]FileRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+fileColumns+` FROM files
		WHERE project = ? AND study_uid = ?
		ORDER BY series_uid, instance_uid`, project, studyUID)
	if err != nil {
		return nil, fmt.Errorf("store: list files: %w", err)
	}
	defer rows.Close()
	var out []FileRecord
	for rows.Next() {
		rec, err := scanFile(rows)
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

// ListStudies implements [MetaDB].
func (s *SQLite) ListStudies(ctx context.Context, project string) ([]StudySummary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT study_uid, COUNT(DISTINCT series_uid), COUNT(*),
		SUM(size), MIN(committed_at), MAX(committed_at)
		FROM files WHERE project = ? GROUP BY study_uid ORDER BY study_uid`, project)
	if err != nil {
		return nil, fmt.Errorf("store: list studies: %w", err)
	}
	var out []StudySummary
	index := map[string]int{}
	for rows.Next() {
		var st StudySummary
		var first, last sql.NullInt64
		if err := rows.Scan(&st.StudyUID, &st.Series, &st.Files, &st.Bytes, &first, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: list studies: %w", err)
		}
		st.FirstAt, st.LastAt = fromMicro(first), fromMicro(last)
		index[st.StudyUID] = len(out)
		out = append(out, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list studies: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}

	// Modalities in a second query: string aggregation is not portable SQL.
	rows, err = s.db.QueryContext(ctx, `SELECT DISTINCT study_uid, modality FROM files
		WHERE project = ? AND modality <> '' ORDER BY study_uid, modality`, project)
	if err != nil {
		return nil, fmt.Errorf("store: list studies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var study, modality string
		if err := rows.Scan(&study, &modality); err != nil {
			return nil, fmt.Errorf("store: list studies: %w", err)
		}
		if i, ok := index[study]; ok { // a study committed between the queries is skipped
			out[i].Modalities = append(out[i].Modalities, modality)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list studies: %w", err)
	}
	return out, nil
}

// ListConflicts implements [MetaDB].
func (s *SQLite) ListConflicts(ctx context.Context, project string) ([]Conflict, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT project, instance_uid, existing_file_id, file_id, site,
		agent_id, sha256, plain_sha256, detected_at
		FROM conflicts WHERE project = ? ORDER BY detected_at, id`, project)
	if err != nil {
		return nil, fmt.Errorf("store: list conflicts: %w", err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var c Conflict
		var at sql.NullInt64
		if err := rows.Scan(&c.Project, &c.InstanceUID, &c.ExistingFileID, &c.FileID, &c.Site,
			&c.AgentID, &c.SHA256, &c.PlainSHA256, &at); err != nil {
			return nil, fmt.Errorf("store: list conflicts: %w", err)
		}
		c.DetectedAt = fromMicro(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list conflicts: %w", err)
	}
	return out, nil
}
