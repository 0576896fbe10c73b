package agent

import "testing"

func TestIsTempName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"IM0001.dcm", false},
		{"IM0001", false},
		{"1.2.840.10008.5.1.4.1.1.2.dcm", false},
		{".hidden.dcm", true},
		{"._IM0001.dcm", true},
		{"IM0001.dcm.tmp", true},
		{"IM0001.TMP", true},
		{"IM0001.dcm.part", true},
		{"IM0001.partial", true},
		{"IM0001.dcm~", true},
		{"download.crdownload", true},
		{"", true},
	}
	for _, tt := range tests {
		if got := isTempName(tt.name); got != tt.want {
			t.Errorf("isTempName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
