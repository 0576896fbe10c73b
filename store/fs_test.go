package store_test

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

func TestFS(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.ObjectStore {
		s, err := store.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	t.Run("parts", func(t *testing.T) {
		storetest.RunParts(t, func(t *testing.T) (store.PartStore, store.PartStore) {
			dir := t.TempDir()
			a, err := store.NewFS(dir)
			if err != nil {
				t.Fatal(err)
			}
			b, err := store.NewFS(dir)
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		})
	})
}

// TestFSModes checks the on-disk layout: 0600 files, 0700 directories, and
// no temporary file left behind by a failed Put.
func TestFSModes(t *testing.T) {
	dir := t.TempDir()
	s, err := store.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "p/s/obj", strings.NewReader("abc"), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "p/s/short", strings.NewReader("ab"), 3); err == nil {
		t.Fatal("short Put succeeded")
	}
	var paths []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		paths = append(paths, rel)
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if p != dir && fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode().Perm(), want)
		}
		return nil
	})
	if want := []string{".", "p", "p/s", "p/s/obj"}; !slices.Equal(paths, want) {
		t.Errorf("files on disk = %v, want %v", paths, want)
	}
}
