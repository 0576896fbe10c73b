package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"dicomgate/audit"
	"dicomgate/store"
)

// releaseRecord is the record a study release signature is bound to: the
// study's files and their sealed hashes.
func releaseRecord(project, study string, files []store.FileRecord) signedRecord {
	fs := make([]map[string]any, 0, len(files))
	for _, f := range files {
		fs = append(fs, map[string]any{"file_id": f.FileID, "sha256": f.SHA256, "instance": f.InstanceUID})
	}
	return signedRecord{Type: "study.release", ID: project + "/" + study,
		Content: map[string]any{"project": project, "study": study, "files": fs}}
}

// ReleaseStudy releases a study of project with p's electronic signature,
// bound to the study's files and hashes. Audited (study.release).
func (s *Server) ReleaseStudy(ctx context.Context, p *Principal, project, study string, req SignRequest, ip string) (*store.Signature, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	files, err := res.db.ListFiles(ctx, project, study)
	if err != nil {
		return nil, fmt.Errorf("relay: release: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("relay: release: %w", store.ErrNotExist)
	}
	sig, err := s.sign(ctx, p, req, releaseRecord(project, study, files), ip)
	if err != nil {
		return nil, err
	}
	err = res.accounts.PutRelease(ctx, store.StudyRelease{Project: project, StudyUID: study, SignatureID: sig.ID,
		ReleasedAt: sig.SignedAt})
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("relay: release: study already released: %w", store.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("relay: release: %w", err)
	}
	s.record(ctx, audit.Event{Actor: p.Name, Action: audit.ActionStudyRelease, Project: project, Study: study, IP: ip,
		Reason: sig.Meaning, Details: signatureDetails(sig)})
	return sig, nil
}

// exportRecord is the record an audit export signature is bound to: the
// format, the filter and the log's size when signed.
func exportRecord(id string, format audit.Format, f audit.Filter, size int64) signedRecord {
	return signedRecord{Type: "audit.export", ID: id,
		Content: map[string]any{"format": string(format), "filter": f, "log_size": size}}
}

// ExportAudit writes the audit entries matching f to w in format, signed
// by p (the export event records the signature), and returns the
// signature. See audit.Log.Export.
func (s *Server) ExportAudit(ctx context.Context, w io.Writer, p *Principal, format audit.Format, f audit.Filter, req SignRequest, ip string) (*store.Signature, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	if _, err := audit.ParseFormat(string(format)); err != nil {
		return nil, err
	}
	size, err := res.audit.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: export: %w", err)
	}
	now := s.now().UTC()
	id := "export-" + strconv.FormatInt(now.UnixMicro(), 10)
	sig, err := s.sign(ctx, p, req, exportRecord(id, format, f, size), ip)
	if err != nil {
		return nil, err
	}
	by := audit.Event{Actor: p.Name, IP: ip, Reason: fmt.Sprintf("e-signature %d (%s) by %s at %s", sig.ID,
		sig.Meaning, sig.PrintedName, sig.SignedAt.Format(time.RFC3339))}
	if _, err := res.audit.Export(ctx, w, format, f, by); err != nil && !errors.Is(err, audit.ErrTampered) {
		return nil, fmt.Errorf("relay: export: %w", err)
	}
	return sig, nil
}
