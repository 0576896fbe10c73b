package audit

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// csvHeader is the CSV export's first row.
func csvHeader() []string {
	return []string{"index", "time", "actor", "action", "project", "study", "object", "ip", "reason", "details"}
}

// writeCSV writes one row per entry after a header row. Times are RFC 3339
// UTC; details are the canonical JSON object, or empty. Cells are written
// as recorded (no spreadsheet-formula escaping), so that the file round
// trips; open it as text.
func writeCSV(w io.Writer, doc *exportDoc) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader()); err != nil {
		return err
	}
	for e, err := range doc.entries {
		if err != nil {
			return err
		}
		details := ""
		if len(e.Details) > 0 {
			b, err := json.Marshal(e.Details)
			if err != nil {
				return err
			}
			details = string(b)
		}
		if err := cw.Write([]string{strconv.FormatInt(e.Index, 10), e.Time.Format(time.RFC3339Nano), e.Actor,
			string(e.Action), e.Project, e.Study, e.Object, e.IP, e.Reason, details}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
