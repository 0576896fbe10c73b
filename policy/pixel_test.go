package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"dicomgate/anonymize"
)

func TestPixelRulesCompile(t *testing.T) {
	p := mustParse(t, y(`
id: us
version: 1
pixel_rules:
  - name: acme-banner
    when: {Modality: US, Manufacturer: {matches: '(?i)acme'}, Rows: 480, Columns: [640, 800]}
    regions:
      - {x: 0, y: 0, w: 640, h: 48}
      - {x: 500, y: 440, w: 140, h: 40}
    frames: [3, 1]
risky:
  modalities: [US, SC]
  sop_classes: [1.2.840.10008.5.1.4.1.1.7]
jpeg_baseline: quarantine
encapsulated_documents: keep
`))
	prof, err := p.Compile([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if len(prof.PixelRules) != 1 {
		t.Fatalf("%d pixel rules", len(prof.PixelRules))
	}
	r := prof.PixelRules[0]
	if r.Name != "acme-banner" || r.Source != "p.yaml:4" || len(r.When) != 4 ||
		!slices.Equal(r.Regions, []anonymize.Rect{{X: 0, Y: 0, W: 640, H: 48}, {X: 500, Y: 440, W: 140, H: 40}}) ||
		!slices.Equal(r.Frames, []int{1, 3}) {
		t.Errorf("rule = %+v", r)
	}
	if !slices.Equal(prof.RiskyModalities, []string{"US", "SC"}) || len(prof.RiskySOPClasses) != 1 ||
		!prof.KeepEncapsulatedDocuments || prof.JPEGBaseline != anonymize.JPEGQuarantine {
		t.Errorf("profile = %+v", prof)
	}
	if _, err := anonymize.New(prof); err != nil {
		t.Errorf("engine refuses the compiled profile: %v", err)
	}
	if !strings.Contains(string(p.Canonical()), `"pixel_rules":[{"name":"acme-banner"`) {
		t.Errorf("canonical form lacks the pixel rules: %s", p.Canonical())
	}
}

// TestPixelDefaultsKeepHash: a policy without the new sections, or with
// them at their defaults, hashes as before they existed.
func TestPixelDefaultsKeepHash(t *testing.T) {
	plain := mustParse(t, "id: a\nversion: 1\n")
	explicit := mustParse(t, "id: a\nversion: 1\njpeg_baseline: quarantine\nencapsulated_documents: remove\n")
	if plain.Hash() != explicit.Hash() {
		t.Error("writing the defaults changed the hash")
	}
	if strings.Contains(string(plain.Canonical()), "pixel") {
		t.Errorf("canonical form of a plain policy mentions pixels: %s", plain.Canonical())
	}
	moved := mustParse(t, "id: a\nversion: 1\npixel_rules: [{name: r, when: {Modality: US}, regions: [{x: 0, y: 0, w: 1, h: 2}]}]\n")
	if moved.Hash() == plain.Hash() {
		t.Error("a pixel rule does not change the hash")
	}
}

func TestPixelValidation(t *testing.T) {
	src := y(`
id: a
version: 1
pixel_rules:
  - name: Bad_Name
    when: {Modality: US}
    regions: [{x: -1, y: 0, w: 0, h: 10, z: 1}]
  - name: no-when
    regions: []
    frames: [0, 2, 2]
  - regions: [{x: 1, y: 1, w: 1}]
    when: {Modality: US}
risky:
  modalities: [us]
  sop_classes: [not-a-uid]
jpeg_baseline: blank-blocks
encapsulated_documents: maybe
`)
	_, err := Parse("p.yaml", []byte(src), t.TempDir())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"4:11: pixel_rules[0].name: must be 1 to 64",
		"6:19: pixel_rules[0].regions[0].x: must be between 0 and 65535",
		"6:32: pixel_rules[0].regions[0].w: must be between 1 and 65535",
		"6:42: pixel_rules[0].regions[0].z: unknown field",
		"7:5: pixel_rules[1].when: missing required field",
		"8:14: pixel_rules[1].regions: must be a non-empty list",
		"9:14: pixel_rules[1].frames[0]: frame numbers start at 1",
		"9:20: pixel_rules[1].frames[2]: frame listed twice",
		"10:5: pixel_rules[2].name: missing required field",
		"10:15: pixel_rules[2].regions[0].h: missing required field",
		"13:16: risky.modalities[0]: must be an upper-case modality code",
		"14:17: risky.sop_classes[0]: must be a SOP class UID",
		"15:16: jpeg_baseline: blank-blocks is not available yet",
		"16:25: encapsulated_documents: must be remove or keep",
	}
	got := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		got[i] = p.String()
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("missing problem %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
}
