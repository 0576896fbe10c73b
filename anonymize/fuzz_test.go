package anonymize

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzAnonymize/seed-*")

// fuzzSeeds are small valid files in every encoding the reader accepts.
func fuzzSeeds(tb testing.TB) map[string][]byte {
	explicit := synthSyntax(tb, tsExplicitLE)
	implicit := synthSyntax(tb, tsImplicitLE)
	jpeg := synthSyntax(tb, tsJPEGBaseline)
	seeds := map[string][]byte{
		"explicit-le": synthFile(tb, explicit),
		"implicit-le": synthFile(tb, implicit),
		"explicit-be": synthFile(tb, synthSyntax(tb, tsExplicitBE)),
		"deflated":    synthFile(tb, synthSyntax(tb, tsDeflatedLE)),
		"encapsulated": synthEncode(tb, jpeg, false,
			append(synthHeader(jpeg), synthEncapsulatedPixels(3))...).data,
		"no-preamble-explicit": synthEncode(tb, explicit, true,
			append(synthHeader(explicit), synthNativePixels())...).data,
		"no-preamble-implicit": synthEncode(tb, implicit, true,
			append(synthHeader(implicit), synthNativePixels())...).data,
	}
	// Meta group without the 128-byte preamble.
	seeds["meta-no-preamble"] = seeds["explicit-le"][132:]
	return seeds
}

// fuzzProfiles are the Basic Profile and one with every option (but full
// dates, exclusive with modified dates), rules, filters and burned-in
// pixels allowed.
func fuzzProfiles() map[string]*Profile {
	return map[string]*Profile{
		"basic": {},
		"options": {
			ID: "fuzz", Version: "1",
			Options: Options{
				RetainSafePrivate: true, RetainUIDs: true, RetainDeviceIdentity: true,
				RetainInstitutionIdentity: true, RetainPatientCharacteristics: true,
				RetainLongitudinalModifiedDates: true, CleanDescriptors: true,
				CleanStructuredContent: true, CleanGraphics: true,
			},
			Rules: []Rule{
				{Select: Selector{Tag: tagPatientName}, Action: ActReplace, Value: "FUZZ^PATIENT"},
				{Select: Selector{Tag: tagPatientID}, Action: ActLookup, Table: map[string]string{"PHI-ID-123456": "P1"}, Missing: MissHash},
				{Select: Selector{Tag: 0x00080080}, Action: ActRegex, Regex: regexp.MustCompile(`[A-Z]+`), Value: "x"},
				{Select: Selector{Tag: 0x00080020}, Action: ActDateShift, ShiftDays: 7},
				{Select: Selector{Tag: 0x00080050}, Action: ActHash, Value: "H-"},
				{Select: Selector{Tag: 0x00091001, PrivateCreator: "ACME 1.0"}, Action: ActDummy},
				{Select: Selector{Tag: 0x60003000, GroupMask: 0xFF00}, Action: ActRemove},
				{Select: Selector{Tag: 0x00081030}, Action: ActKeep, When: []Condition{{Tag: tagModality, Op: OpIn, Values: []string{"CT", "MR"}}}},
			},
			Filters: []Filter{
				{Action: FilterReject, When: []Condition{{Tag: tagModality, Op: OpEquals, Value: "SR"}}, Reason: "structured reports are not sent"},
			},
			BurnedIn:        BurnedInAllow,
			PatientIDPrefix: "FZ-",
		},
	}
}

func FuzzAnonymize(f *testing.F) {
	seeds := fuzzSeeds(f)
	for _, name := range slices.Sorted(maps.Keys(seeds)) {
		f.Add(seeds[name])
	}
	profiles := fuzzProfiles()
	anonymizers := make([]*Anonymizer, 0, len(profiles))
	for _, name := range slices.Sorted(maps.Keys(profiles)) {
		anonymizers = append(anonymizers, synthAnonymizer(f, profiles[name]))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, a := range anonymizers {
			var out bytes.Buffer
			_, err := a.Anonymize(context.Background(), bytes.NewReader(data), &out)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) &&
					!errors.Is(err, ErrRejected) && !errors.Is(err, ErrBurnedIn) &&
					!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("error %q wraps no sentinel", err)
				}
				if strings.Contains(err.Error(), synthPHI) {
					t.Fatalf("error message contains a planted value: %q", err)
				}
				continue
			}
			ds, _, err := reparse(out.Bytes())
			if err != nil {
				t.Fatalf("output does not re-parse: %v", err)
			}
			if got := ds.str(tagPatientIdentityRemoved); got != "YES" {
				t.Fatalf("output PatientIdentityRemoved = %q", got)
			}
		}
	})
}

// TestFuzzSeedsCommitted checks that the seeds are in the committed corpus
// (go test runs them as part of FuzzAnonymize); -update-fuzz-seeds rewrites
// them.
func TestFuzzSeedsCommitted(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzAnonymize")
	for name, data := range fuzzSeeds(t) {
		path := filepath.Join(dir, "seed-"+name)
		if *updateFuzzSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("seed %s is not committed (run go test -run TestFuzzSeedsCommitted -update-fuzz-seeds): %v", name, err)
		}
	}
}

// Every seed is a valid file that both profiles accept.
func TestFuzzSeedsValid(t *testing.T) {
	profiles := fuzzProfiles()
	for name, data := range fuzzSeeds(t) {
		for pname, p := range profiles {
			t.Run(name+"/"+pname, func(t *testing.T) {
				var out bytes.Buffer
				if _, err := synthAnonymizer(t, p).Anonymize(context.Background(), bytes.NewReader(data), &out); err != nil {
					t.Fatal(err)
				}
				synthReparse(t, out.Bytes())
			})
		}
	}
}
