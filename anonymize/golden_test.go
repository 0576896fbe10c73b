package anonymize

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"dicomgate/internal/dicomtest"
)

var update = flag.Bool("update", false, "rewrite golden files (and generate missing inputs)")

// goldenInputs are the generated files kept in testdata: one per transfer
// syntax and object kind.
func goldenInputs(t *testing.T) map[string][]byte {
	files, _, err := dicomtest.New(7).Corpus(dicomtest.CorpusOptions{Patients: 1, Slices: 5})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		name := strings.NewReplacer("/", "_", "p01_", "").Replace(f.Name)
		out[name] = f.Data
	}
	return out
}

// TestGolden anonymises each testdata/*.dcm with the trial-like options and
// compares a dump of the output and its report with testdata/*.golden.
// Run `go test ./anonymize -run TestGolden -update` and review the diff.
func TestGolden(t *testing.T) {
	if *update {
		for name, data := range goldenInputs(t) {
			p := filepath.Join("testdata", name)
			if _, err := os.Stat(p); err != nil {
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	inputs, _ := filepath.Glob("testdata/*.dcm")
	if len(inputs) < 5 {
		t.Fatalf("only %d golden inputs; run with -update", len(inputs))
	}
	a, err := New(&Profile{ID: "golden", Version: "1", Hash: "0123", Secret: testSecret,
		Options: Options{RetainSafePrivate: true, RetainLongitudinalModifiedDates: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, rep, err := anonymizeBytes(t, a, data)
			var got strings.Builder
			if err != nil {
				fmt.Fprintf(&got, "error: %v\n", err)
			} else {
				p := parseAll(t, out)
				dump(&got, "meta.", p.meta)
				dump(&got, "", p.ds)
				fmt.Fprintf(&got, "pixels %d bytes sha256 %x\n", len(p.pix), sha256.Sum256(p.pix))
				got.WriteString("----------\n")
				js, _ := json.MarshalIndent(rep, "", " ")
				got.Write(js)
				got.WriteString("\n")
			}
			golden := strings.TrimSuffix(in, ".dcm") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got.String() != string(want) {
				t.Errorf("output differs from %s (run with -update and review the diff):\n%s", golden, firstDiff(string(want), got.String()))
			}
		})
	}
}

// dump writes one line per attribute, sorted by path.
func dump(b *strings.Builder, prefix string, ds *dataset) {
	var lines []string
	var rec func(prefix string, ds *dataset)
	rec = func(prefix string, ds *dataset) {
		for _, e := range ds.elems {
			path := prefix + e.tag.String()
			switch {
			case e.vr == "SQ":
				lines = append(lines, fmt.Sprintf("%s SQ %d items", path, len(e.items)))
				for i, it := range e.items {
					rec(fmt.Sprintf("%s[%d].", path, i), it)
				}
			case e.encapsulated:
				lines = append(lines, fmt.Sprintf("%s %s %d fragments", path, e.vr, len(e.fragments)))
			case isStringVR(e.vr) && len(e.value) <= 128:
				lines = append(lines, fmt.Sprintf("%s %s %q", path, e.vr, e.str()))
			default:
				lines = append(lines, fmt.Sprintf("%s %s %d bytes sha256 %x", path, e.vr, len(e.value), sha256.Sum256(e.value)))
			}
		}
	}
	rec(prefix, ds)
	sort.Strings(lines)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\n")
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, w, g)
		}
	}
	return ""
}
