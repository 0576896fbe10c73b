package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUDPBufferWarning(t *testing.T) {
	tests := []struct {
		name     string
		rmem     string // "" = file missing
		wmem     string
		contains []string
	}{
		{name: "both low", rmem: "212992\n", wmem: "212992\n", contains: []string{"net.core.rmem_max=212992", "net.core.wmem_max=212992", "sysctl -w"}},
		{name: "only rmem low", rmem: "1000", wmem: "8000000", contains: []string{"net.core.rmem_max=1000"}},
		{name: "large enough", rmem: "7340032", wmem: "9000000"},
		{name: "unreadable", rmem: "", wmem: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "net", "core")
			os.MkdirAll(dir, 0o755)
			if tc.rmem != "" {
				os.WriteFile(filepath.Join(dir, "rmem_max"), []byte(tc.rmem), 0o644)
			}
			if tc.wmem != "" {
				os.WriteFile(filepath.Join(dir, "wmem_max"), []byte(tc.wmem), 0o644)
			}
			got := udpBufferWarning(root)
			if len(tc.contains) == 0 && got != "" {
				t.Fatalf("unexpected warning %q", got)
			}
			for _, s := range tc.contains {
				if !strings.Contains(got, s) {
					t.Fatalf("warning %q lacks %q", got, s)
				}
			}
			if tc.name == "only rmem low" && strings.Contains(got, "wmem_max=8000000") {
				t.Fatal("warning names a sufficient limit")
			}
		})
	}
}
