package audit

import (
	"bufio"
	"encoding/json"
	"io"
	"time"
)

// jsonHeader is the start of a JSON export.
type jsonHeader struct {
	Format      string    `json:"format"`
	GeneratedAt time.Time `json:"generated_at"`
	GeneratedBy string    `json:"generated_by"`
	Filter      Filter    `json:"filter"`
}

// writeJSON writes one object:
//
//	{"format":"dicomgate-audit-export/1","generated_at":...,"generated_by":...,"filter":{...},
//	 "entries":[<canonical entry>,...],"checkpoint":"<signed note>","verification":{...}}
//
// Each entry is its canonical encoding, byte for byte the Merkle leaf, so an
// auditor can recompute leaf hashes from the export alone. Entries are
// streamed.
func writeJSON(w io.Writer, doc *exportDoc) error {
	bw := bufio.NewWriter(w)
	head, err := json.Marshal(jsonHeader{Format: "dicomgate-audit-export/1", GeneratedAt: doc.generatedAt,
		GeneratedBy: doc.by, Filter: doc.filter})
	if err != nil {
		return err
	}
	bw.Write(head[:len(head)-1]) // reopen the object
	bw.WriteString(`,"entries":[`)
	first := true
	for e, err := range doc.entries {
		if err != nil {
			return err
		}
		data, err := encodeEntry(e)
		if err != nil {
			return err
		}
		if !first {
			bw.WriteByte(',')
		}
		first = false
		bw.WriteString("\n")
		bw.Write(data)
	}
	bw.WriteString("\n]")
	tail, err := json.Marshal(struct {
		Checkpoint   string        `json:"checkpoint"`
		Verification *VerifyResult `json:"verification"`
	}{checkpointText(doc.checkpoint), doc.verify})
	if err != nil {
		return err
	}
	bw.WriteByte(',')
	bw.Write(tail[1:]) // close the object
	bw.WriteByte('\n')
	return bw.Flush()
}

// checkpointText is c's note, or "" for none.
func checkpointText(c *Checkpoint) string {
	if c == nil {
		return ""
	}
	return c.Note
}
