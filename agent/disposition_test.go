package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDispose(t *testing.T) {
	tests := []struct {
		name     string
		d        Disposition
		clash    bool // a file already sits at the move target
		modified bool // the source was rewritten after it was queued
		wantSrc  bool // source still in place
		wantAt   string
	}{
		{name: "keep", d: Keep, wantSrc: true},
		{name: "delete", d: Delete},
		{name: "move preserves relative path", d: Move, wantAt: "sub/dir/a.dcm"},
		{name: "move never overwrites", d: Move, clash: true, wantAt: "sub/dir/a-1.dcm"},
		{name: "delete skips a rewritten file", d: Delete, modified: true, wantSrc: true},
		{name: "move skips a rewritten file", d: Move, modified: true, wantSrc: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root, moveTo := filepath.Join(dir, "in"), filepath.Join(dir, "done")
			src := filepath.Join(root, "sub", "dir", "a.dcm")
			writeFile(t, src, "source")
			fi, _ := os.Stat(src)
			it := &Item{ID: 1, SourcePath: src, SourceSize: fi.Size(), SourceModTime: fi.ModTime(), Root: root}
			if tt.clash {
				writeFile(t, filepath.Join(moveTo, "sub", "dir", "a.dcm"), "other")
			}
			if tt.modified {
				writeFile(t, src, "new content")
				os.Chtimes(src, time.Now(), fi.ModTime().Add(time.Second))
			}
			if err := dispose(it, tt.d, moveTo); err != nil {
				t.Fatalf("dispose: %v", err)
			}
			if _, err := os.Stat(src); (err == nil) != tt.wantSrc {
				t.Errorf("source present = %v, want %v", err == nil, tt.wantSrc)
			}
			if tt.wantAt != "" {
				got, err := os.ReadFile(filepath.Join(moveTo, tt.wantAt))
				if err != nil || string(got) != "source" {
					t.Errorf("moved file = %q, %v", got, err)
				}
			}
			if tt.clash {
				if got, _ := os.ReadFile(filepath.Join(moveTo, "sub", "dir", "a.dcm")); string(got) != "other" {
					t.Errorf("existing file overwritten: %q", got)
				}
			}
		})
	}
}
