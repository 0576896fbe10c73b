package store_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

// AbortStaleParts finds unfinished uploads in the bucket that nobody
// recorded and aborts them, sparing those claimed, those with a part
// stored after the cutoff and everything when the cutoff predates them.
func TestS3AbortStaleParts(t *testing.T) {
	cfg := storetest.StartS3(t)
	cfg.Bucket = "stale-parts"
	cfg.PartSize = 5 << 20
	s, err := store.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ids := map[string]string{}
	for _, key := range []string{"p/a.dgseal", "p/b.dgseal", "p/c.dgseal"} {
		id, err := s.BeginParts(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		ids[key] = id
	}
	part := bytes.Repeat([]byte{7}, 5<<20)
	if _, err := s.PutPart(ctx, "p/a.dgseal", ids["p/a.dgseal"], store.Part{N: 1, Size: int64(len(part))}, bytes.NewReader(part)); err != nil {
		t.Fatal(err)
	}
	none := func(string) bool { return false }

	// Begun and written after the cutoff: nothing is stale.
	if n, err := s.AbortStaleParts(ctx, time.Now().Add(-time.Hour), none); err != nil || n != 0 {
		t.Fatalf("cutoff an hour ago: aborted %d, %v; want 0", n, err)
	}
	for key, id := range ids {
		if err := s.CheckParts(ctx, key, id); err != nil {
			t.Fatalf("%s gone after a sweep that should spare it: %v", key, err)
		}
	}

	// Cutoff in the future: all are stale but b, which is claimed.
	keepB := func(id string) bool { return id == ids["p/b.dgseal"] }
	n, err := s.AbortStaleParts(ctx, time.Now().Add(time.Hour), keepB)
	if err != nil || n != 2 {
		t.Fatalf("aborted %d, %v; want 2", n, err)
	}
	for key, id := range ids {
		err := s.CheckParts(ctx, key, id)
		if key == "p/b.dgseal" {
			if err != nil {
				t.Fatalf("claimed upload %s aborted: %v", key, err)
			}
		} else if !errors.Is(err, store.ErrNotExist) {
			t.Fatalf("%s: CheckParts = %v, want ErrNotExist", key, err)
		}
	}
	if err := s.AbortParts(ctx, "p/b.dgseal", ids["p/b.dgseal"]); err != nil {
		t.Fatal(err)
	}

	// Begun before the cutoff, written after it: still in use. The
	// server's times have a resolution of a second.
	id, err := s.BeginParts(ctx, "p/d.dgseal")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(1100 * time.Millisecond)
	if _, err := s.PutPart(ctx, "p/d.dgseal", id, store.Part{N: 1, Size: int64(len(part))}, bytes.NewReader(part)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.AbortStaleParts(ctx, cutoff, none); err != nil || n != 0 {
		t.Fatalf("upload written after the cutoff: aborted %d, %v; want 0", n, err)
	}
	if err := s.AbortParts(ctx, "p/d.dgseal", id); err != nil {
		t.Fatal(err)
	}
	if n, err := s.AbortStaleParts(ctx, time.Now().Add(time.Hour), none); err != nil || n != 0 {
		t.Fatalf("empty bucket: aborted %d, %v", n, err)
	}
}
