package policy

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Lookup table limits and defaults.
const (
	// DefaultKeyColumn and DefaultValueColumn are the CSV header names a
	// lookup rule uses unless it sets key_column and value_column.
	DefaultKeyColumn   = "id_old"
	DefaultValueColumn = "id_new"

	maxTableBytes    = 1 << 30 // refuse larger CSV files
	maxTableProblems = 20      // stop listing problems of one table after this many
	maxTableValueLen = 64      // an LO value, the VR of PatientID
)

// table is a loaded lookup table: original value → replacement.
type table struct {
	entries map[string]string
	// sha256 is the hex SHA-256 of the sorted entries, which the policy
	// hash covers instead of the file's path.
	sha256 string
}

// loadTable reads a CSV lookup table at name, relative to dir, which it may
// not leave. It returns the problems found; none of them quotes a value.
func loadTable(dir, name, keyCol, valCol string) (table, []string) {
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return table{}, []string{"table must be a relative path inside the policy's folder"}
	}
	if dir == "" {
		dir = "."
	}
	f, err := os.OpenInRoot(dir, filepath.FromSlash(name))
	if errors.Is(err, fs.ErrNotExist) {
		return table{}, []string{fmt.Sprintf("table file %s not found", name)}
	}
	if err != nil {
		return table{}, []string{fmt.Sprintf("cannot open table file %s", name)}
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil || !st.Mode().IsRegular():
		return table{}, []string{fmt.Sprintf("table %s is not a regular file", name)}
	case st.Size() > maxTableBytes:
		return table{}, []string{fmt.Sprintf("table %s is larger than %d bytes", name, maxTableBytes)}
	}
	return readTable(io.LimitReader(f, maxTableBytes), name, keyCol, valCol)
}

// readTable parses a CSV lookup table with a header row.
func readTable(r io.Reader, name, keyCol, valCol string) (table, []string) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return table{}, []string{fmt.Sprintf("table %s: %s", name, csvProblem(err, "needs a header row"))}
	}
	header = slices.Clone(header)
	header[0] = strings.TrimPrefix(header[0], "\uFEFF") // spreadsheets write a byte order mark
	ki, vi := -1, -1
	var probs []string
	for i, h := range header {
		h = strings.TrimSpace(h)
		if slices.ContainsFunc(header[:i], func(o string) bool { return strings.TrimSpace(o) == h }) {
			probs = append(probs, fmt.Sprintf("table %s: column %q appears twice in the header", name, h))
		}
		switch h {
		case keyCol:
			ki = i
		case valCol:
			vi = i
		}
	}
	if ki < 0 {
		probs = append(probs, fmt.Sprintf("table %s: header has no column %q", name, keyCol))
	}
	if vi < 0 {
		probs = append(probs, fmt.Sprintf("table %s: header has no column %q", name, valCol))
	}
	if len(probs) > 0 {
		return table{}, probs
	}

	entries := make(map[string]string)
	keyLine := make(map[string]int)
	valLine := make(map[string]int)
	add := func(line int, format string, args ...any) bool {
		probs = append(probs, fmt.Sprintf("table %s line %d: ", name, line)+fmt.Sprintf(format, args...))
		return len(probs) < maxTableProblems
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			probs = append(probs, fmt.Sprintf("table %s: %s", name, csvProblem(err, "")))
			break
		}
		line, _ := cr.FieldPos(0)
		k, v := strings.TrimSpace(rec[ki]), strings.TrimSpace(rec[vi])
		msg := valueProblem(v)
		switch {
		case k == "":
			msg = "empty key"
		case keyLine[k] != 0:
			msg = fmt.Sprintf("duplicate key (first on line %d)", keyLine[k])
		case msg == "" && valLine[v] != 0:
			msg = fmt.Sprintf("duplicate value (first on line %d): two originals would get the same pseudonym", valLine[v])
		}
		if msg != "" {
			if !add(line, "%s", msg) {
				probs = append(probs, fmt.Sprintf("table %s: too many problems, stopped", name))
				break
			}
			continue
		}
		keyLine[k], valLine[v] = line, line
		entries[k] = v
	}
	if len(probs) > 0 {
		return table{}, probs
	}
	if len(entries) == 0 {
		return table{}, []string{fmt.Sprintf("table %s has no rows", name)}
	}
	return table{entries: entries, sha256: tableHash(entries)}, nil
}

// valueProblem checks a replacement value, which must fit an LO element.
func valueProblem(v string) string {
	switch {
	case v == "":
		return "empty value"
	case len(v) > maxTableValueLen:
		return fmt.Sprintf("value longer than %d characters", maxTableValueLen)
	case strings.ContainsRune(v, '\\'):
		return `value contains a backslash`
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7F {
			return "value contains a control character"
		}
	}
	return ""
}

// csvProblem describes a CSV reading error without quoting the data.
func csvProblem(err error, atEOF string) string {
	var pe *csv.ParseError
	switch {
	case err == io.EOF && atEOF != "":
		return atEOF
	case errors.As(err, &pe):
		return fmt.Sprintf("line %d: %v", pe.Line, pe.Err)
	default:
		return "cannot read the file"
	}
}

// tableHash hashes the entries in key order, each string length-prefixed.
func tableHash(entries map[string]string) string {
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, k := range keys {
		for _, s := range []string{k, entries[k]} {
			h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
			io.WriteString(h, s)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
