package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// Format is an export format.
type Format string

// Export formats.
const (
	FormatCSV  Format = "csv"  // one row per entry, details as JSON
	FormatJSON Format = "json" // one object: header, entries, checkpoint, verification
	FormatPDF  Format = "pdf"  // human-readable report for inspectors (21 CFR 11.10(b))
)

// ParseFormat parses "csv", "json" or "pdf".
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatCSV, FormatJSON, FormatPDF:
		return f, nil
	}
	return "", fmt.Errorf("audit: unknown export format %q (want csv, json or pdf)", s)
}

// ExportResult describes a finished export.
type ExportResult struct {
	// Format is the format written.
	Format Format `json:"format"`
	// Entries is the number of entries written.
	Entries int `json:"entries"`
	// EventIndex is the index of the export's own "export" event.
	EventIndex int64 `json:"event_index"`
	// Checkpoint is the checkpoint written for the export; nil if the log
	// was found tampered and none could be signed.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// Verification is the verification of the whole log at export time.
	Verification *VerifyResult `json:"verification"`
	// GeneratedAt is when the export was made, UTC.
	GeneratedAt time.Time `json:"generated_at"`
}

// exportDoc is what the format writers write.
type exportDoc struct {
	generatedAt time.Time
	by          string
	filter      Filter
	checkpoint  *Checkpoint
	verify      *VerifyResult
	entries     iter.Seq2[Entry, error]
}

// Export writes the entries matching f to w in format, for the requester
// described by by (Actor required; IP and Reason, e.g. the meaning of the
// requester's electronic signature, recorded too). Exports are audited:
// first it appends an "export" event (format and filter in Details), then
// signs a checkpoint, then verifies the whole log with l's verifiers, and
// writes the entries up to that checkpoint with, at the end, the
// checkpoint text and the verification result.
//
// If verification fails the document is still written (an inspector must
// see a damaged log too) and Export returns the result with an error
// wrapping [ErrTampered]. Other errors mean the document is incomplete.
func (l *Log) Export(ctx context.Context, w io.Writer, format Format, f Filter, by Event) (*ExportResult, error) {
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, err
	}
	if l.verifiers == nil {
		return nil, fmt.Errorf("audit: export: %w", ErrNoVerifier)
	}
	ev := Event{Actor: by.Actor, Action: ActionExport, Project: f.Project, Study: f.Study, IP: by.IP,
		Reason: by.Reason, Details: map[string]any{"format": string(format), "filter": f}}
	idx, err := l.Append(ctx, ev)
	if err != nil {
		return nil, fmt.Errorf("audit: export: %w", err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil && !errors.Is(err, ErrTampered) {
		return nil, fmt.Errorf("audit: export: %w", err)
	}
	vr, err := l.Verify(ctx, l.verifiers)
	if err != nil {
		return nil, fmt.Errorf("audit: export: %w", err)
	}
	bound := vr.Size
	if cp != nil {
		bound = cp.Size
	}
	res := &ExportResult{Format: format, EventIndex: idx, Checkpoint: cp, Verification: vr,
		GeneratedAt: l.now().UTC().Truncate(time.Second)}
	doc := &exportDoc{generatedAt: res.GeneratedAt, by: by.Actor, filter: f, checkpoint: cp, verify: vr,
		entries: countUpTo(l.Query(ctx, f), bound, &res.Entries)}
	switch format {
	case FormatCSV:
		err = writeCSV(w, doc)
	case FormatJSON:
		err = writeJSON(w, doc)
	case FormatPDF:
		err = writePDF(w, doc)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: export %s: %w", format, err)
	}
	l.log.Info().Str("format", string(format)).Int("entries", res.Entries).Bool("verified", vr.OK).Msg("audit export")
	if !vr.OK {
		return res, fmt.Errorf("audit: export: %w", vr.Err())
	}
	return res, nil
}

// countUpTo yields the entries of seq below index bound, counting them
// into *n.
func countUpTo(seq iter.Seq2[Entry, error], bound int64, n *int) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for e, err := range seq {
			if err == nil && e.Index >= bound {
				return
			}
			if err == nil {
				*n++
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

// verifySummary is one line saying how verification went.
func verifySummary(r *VerifyResult) string {
	if !r.OK {
		return fmt.Sprintf("FAILED: %s (%d problem(s))", r.First.String(), len(r.Problems))
	}
	if r.Latest == nil {
		return fmt.Sprintf("PASSED against the stored hashes only: %d entries, no signed checkpoint", r.Size)
	}
	return fmt.Sprintf("PASSED: %d entries; %d checkpoint(s) verified; the latest covers %d entries (%d unsealed)",
		r.Size, r.Checkpoints, r.Latest.Size, r.Unsealed)
}
