package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exportFixture returns a log of 60 sample events (times testEpoch + i s).
func exportFixture(t *testing.T) *Log {
	t.Helper()
	l := openLog(t, filepath.Join(t.TempDir(), "x.db"), testKey(t, "dicomgate-relay", 3), &Options{CheckpointEvery: -1})
	for i := range 60 {
		if _, err := l.Append(t.Context(), sampleEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// want returns the indexes Query gives for f.
func wantIndexes(t *testing.T, l *Log, f Filter, below int64) []int64 {
	t.Helper()
	var out []int64
	for e, err := range l.Query(t.Context(), f) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Index < below {
			out = append(out, e.Index)
		}
	}
	return out
}

func exportFilters() map[string]Filter {
	return map[string]Filter{
		"all":     {},
		"time":    {Since: testEpoch.Add(10 * time.Second), Until: testEpoch.Add(20 * time.Second)},
		"actor":   {Actor: "user3"},
		"action":  {Action: ActionDownload, Project: "p1"},
		"study":   {Study: "2.25.1042"},
		"nothing": {Actor: "nobody"},
	}
}

func TestExportCSV(t *testing.T) {
	for name, f := range exportFilters() {
		t.Run(name, func(t *testing.T) {
			l := exportFixture(t)
			want := wantIndexes(t, l, f, 60)
			var buf bytes.Buffer
			res, err := l.Export(t.Context(), &buf, FormatCSV, f, Event{Actor: "auditor1", IP: "192.0.2.9", Reason: "inspection"})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(recs[0], csvHeader()) {
				t.Fatalf("header = %v", recs[0])
			}
			var got []int64
			for _, r := range recs[1:] {
				idx, _ := strconv.ParseInt(r[0], 10, 64)
				if idx == res.EventIndex {
					continue // the export event itself, if the filter takes it
				}
				got = append(got, idx)
				ev := sampleEvent(int(idx))
				tm, err := time.Parse(time.RFC3339Nano, r[1])
				if err != nil || !tm.Equal(testEpoch.Add(time.Duration(idx)*time.Second)) || r[2] != ev.Actor ||
					r[3] != string(ev.Action) || r[4] != ev.Project || r[5] != ev.Study || r[6] != ev.Object || r[7] != ev.IP {
					t.Fatalf("row %v does not round trip event %d", r, idx)
				}
				var d map[string]any
				if err := json.Unmarshal([]byte(r[9]), &d); err != nil || d["n"] != float64(idx) {
					t.Fatalf("details %q: %v", r[9], err)
				}
			}
			if !slices.Equal(got, want) || res.Entries != len(recs)-1 {
				t.Fatalf("rows %v (%d counted); want %v", got, res.Entries, want)
			}
			checkExportAudited(t, l, res, FormatCSV)
		})
	}
}

func TestExportJSON(t *testing.T) {
	for name, f := range exportFilters() {
		t.Run(name, func(t *testing.T) {
			l := exportFixture(t)
			want := wantIndexes(t, l, f, 60)
			var buf bytes.Buffer
			res, err := l.Export(t.Context(), &buf, FormatJSON, f, Event{Actor: "auditor1"})
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Format       string            `json:"format"`
				GeneratedBy  string            `json:"generated_by"`
				Filter       Filter            `json:"filter"`
				Entries      []json.RawMessage `json:"entries"`
				Checkpoint   string            `json:"checkpoint"`
				Verification VerifyResult      `json:"verification"`
			}
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("%v\n%s", err, buf.Bytes())
			}
			if doc.GeneratedBy != "auditor1" || !doc.Verification.OK || doc.Checkpoint != res.Checkpoint.Note ||
				doc.Filter.Actor != f.Actor || !doc.Filter.Since.Equal(f.Since) {
				t.Fatalf("header/trailer = %+v", doc)
			}
			var got []int64
			for _, raw := range doc.Entries {
				e, err := decodeEntry(raw) // byte for byte the canonical leaf
				if err != nil {
					t.Fatal(err)
				}
				if e.Index == res.EventIndex {
					continue
				}
				ev := sampleEvent(int(e.Index))
				if e.Actor != ev.Actor || e.Study != ev.Study || e.Details["n"].(json.Number).String() != strconv.FormatInt(e.Index, 10) {
					t.Fatalf("entry %s does not round trip", raw)
				}
				got = append(got, e.Index)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("entries %v; want %v", got, want)
			}
			checkExportAudited(t, l, res, FormatJSON)
		})
	}
}

func TestExportPDF(t *testing.T) {
	l := exportFixture(t)
	var buf bytes.Buffer
	f := Filter{Project: "p1"}
	res, err := l.Export(t.Context(), &buf, FormatPDF, f, Event{Actor: "auditor1"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF")) {
		t.Fatalf("not a PDF: %q", buf.Bytes()[:min(16, buf.Len())])
	}
	checkExportAudited(t, l, res, FormatPDF)
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext (poppler-utils) is required in CI")
		}
		t.Skip("pdftotext not installed (apt-get install poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), "audit.pdf")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, line := range strings.Split(strings.TrimSuffix(res.Checkpoint.Note, "\n"), "\n") {
		if line != "" && !strings.Contains(text, line) {
			t.Errorf("PDF text lacks checkpoint line %q", line)
		}
	}
	for _, s := range []string{"dicomgate audit trail export", "auditor1", "p1", "PASSED", "2.25.1001", "file.committed"} {
		if !strings.Contains(text, s) {
			t.Errorf("PDF text lacks %q", s)
		}
	}
	if i, j := strings.Index(text, "Checkpoint verified against"), strings.LastIndex(text, "2.25.10"); i < j {
		t.Errorf("the checkpoint is not at the end of the report")
	}
}

// checkExportAudited checks that the export appended its own event,
// covered by the export's checkpoint.
func checkExportAudited(t *testing.T, l *Log, res *ExportResult, format Format) {
	t.Helper()
	n := 0
	for e, err := range l.Query(t.Context(), Filter{Action: ActionExport}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if e.Index != res.EventIndex || e.Actor != "auditor1" || e.Details["format"] != string(format) {
			t.Fatalf("export event = %+v; want index %d", e, res.EventIndex)
		}
	}
	if n != 1 || res.Checkpoint == nil || res.Checkpoint.Size != res.EventIndex+1 || !res.Verification.OK {
		t.Fatalf("export events %d, result %+v", n, res)
	}
}

// TestExportTampered checks that a damaged log still exports, with the
// failure in the document and the error.
func TestExportTampered(t *testing.T) {
	signer := testKey(t, "r", 1)
	path := buildLog(t, t.TempDir(), 30, 10, signer)
	mustExec(t, rawDB(t, path), `DELETE FROM audit_entries WHERE idx = 12`)
	l := openLog(t, path, signer, nil)
	var buf bytes.Buffer
	res, err := l.Export(t.Context(), &buf, FormatJSON, Filter{}, Event{Actor: "auditor1"})
	var ve *VerifyError
	if !errors.Is(err, ErrTampered) || !errors.As(err, &ve) || ve.Index != 12 || res == nil || res.Verification.OK {
		t.Fatalf("Export = %+v, %v; want the document and ErrTampered naming 12", res, err)
	}
	if !strings.Contains(buf.String(), `"reason":"deleted"`) {
		t.Fatalf("document lacks the problem: %s", buf.String())
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"csv", "json", "pdf"} {
		if f, err := ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) succeeded")
	}
}
