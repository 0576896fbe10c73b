package policy

import (
	"testing"

	"dicomgate/anonymize"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in      string
		want    anonymize.Selector
		canon   string
		wantErr bool
	}{
		{in: "PatientID", want: anonymize.Selector{Tag: anonymize.NewTag(0x0010, 0x0020)}, canon: "(0010,0020)"},
		{in: "(0010,0020)", want: anonymize.Selector{Tag: anonymize.NewTag(0x0010, 0x0020)}, canon: "(0010,0020)"},
		{in: " ( 0008 , 103e ) ", want: anonymize.Selector{Tag: anonymize.NewTag(0x0008, 0x103E)}, canon: "(0008,103E)"},
		{in: "0008,103E", want: anonymize.Selector{Tag: anonymize.NewTag(0x0008, 0x103E)}, canon: "(0008,103E)"},
		{in: "(60xx,4000)", want: anonymize.Selector{Tag: anonymize.NewTag(0x6000, 0x4000), GroupMask: 0xFF00}, canon: "(60xx,4000)"},
		{in: "(50XX,3000)", want: anonymize.Selector{Tag: anonymize.NewTag(0x5000, 0x3000), GroupMask: 0xFF00}, canon: "(50xx,3000)"},
		{in: "(0019,{GEMS_ACQU_01}23)", want: anonymize.Selector{Tag: anonymize.NewTag(0x0019, 0x23), PrivateCreator: "GEMS_ACQU_01"}, canon: "(0019,{GEMS_ACQU_01}23)"},
		{in: "(0029,{SIEMENS CSA HEADER }1a)", want: anonymize.Selector{Tag: anonymize.NewTag(0x0029, 0x1A), PrivateCreator: "SIEMENS CSA HEADER"}, canon: "(0029,{SIEMENS CSA HEADER}1A)"},
		{in: "", wantErr: true},
		{in: "NoSuchKeyword", wantErr: true},
		{in: "Patient-ID", wantErr: true},
		{in: "1PatientID", wantErr: true},
		{in: "(0010,0020", wantErr: true},
		{in: "(0010)", wantErr: true},
		{in: "(010,0020)", wantErr: true},
		{in: "(0010,00200)", wantErr: true},
		{in: "(+010,0020)", wantErr: true},
		{in: "(61xx,4000)", wantErr: true},
		{in: "(60xx,{X}40)", wantErr: true},
		{in: "(0011,0010)", wantErr: true},
		{in: "(0010,{X}20)", wantErr: true},
		{in: "(0007,{X}20)", wantErr: true},
		{in: "(FFFF,{X}20)", wantErr: true},
		{in: "(0019,{X}2)", wantErr: true},
		{in: "(0019,{X)", wantErr: true},
		{in: "(0019,{}20)", wantErr: true},
		{in: "(0019,{A\\B}20)", wantErr: true},
		{in: "(0019,{A\x01}20)", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSelector(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseSelector(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got != tt.want {
				t.Errorf("parseSelector(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if c := selectorString(got); c != tt.canon {
				t.Errorf("selectorString = %q, want %q", c, tt.canon)
			}
			if again, err := parseSelector(selectorString(got)); err != nil || again != got {
				t.Errorf("canonical form does not parse back: %v %+v", err, again)
			}
		})
	}
}
