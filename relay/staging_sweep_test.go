package relay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dicomgate/store"
	"dicomgate/transport"
)

// TestSweepStaging: a partial staging file left by a cut upload is kept
// while younger than keep_partial, and removed once older, unless an
// upload holds it; other files are left alone. The agent whose partial
// file went sends the file again from zero, and it commits.
func TestSweepStaging(t *testing.T) {
	e, a, f := cutUpload(t, transport.ModeQUIC, transport.DataChunkSize, nil)
	r, _ := e.srv.resources()
	ctx := context.Background()
	cut := stagePath(r.stagingDir, a.id, f.offer)
	cutInfo, err := os.Stat(cut)
	if err != nil {
		t.Fatalf("cut upload not staged: %v", err)
	}
	old := time.Now().Add(-8 * 24 * time.Hour)
	held := filepath.Join(r.stagingDir, "held.part")
	other := filepath.Join(r.stagingDir, "notes.txt")
	for _, p := range []string{held, other} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	unlock, err := e.srv.stages.lock(ctx, held)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	cutoff := time.Now().Add(-DefaultStagingKeepPartial)
	if n, _, err := e.srv.sweepStaging(ctx, r.stagingDir, cutoff); err != nil || n != 0 {
		t.Fatalf("sweep of a fresh partial file: removed %d (%v), want 0", n, err)
	}
	if _, err := os.Stat(cut); err != nil {
		t.Fatalf("fresh partial file removed: %v", err)
	}
	if err := os.Chtimes(cut, old, old); err != nil {
		t.Fatal(err)
	}
	n, b, err := e.srv.sweepStaging(ctx, r.stagingDir, cutoff)
	if err != nil || n != 1 || b != cutInfo.Size() {
		t.Fatalf("sweep: removed %d files, %d bytes (%v); want 1, %d", n, b, err, cutInfo.Size())
	}
	for p, want := range map[string]bool{cut: false, held: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s kept: %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	if un, ok := e.srv.stages.tryLock(held); ok {
		un()
		t.Error("the sweep released a lock an upload holds")
	}
	if un, ok := e.srv.stages.tryLock(cut); !ok {
		t.Error("the sweep left its lock on the removed file held")
	} else {
		un()
	}

	rec := &offsetRecorder{r: bytes.NewReader(f.sealed), first: -1}
	rcpt, err := a.conn.Upload(ctx, f.offer, rec)
	if err != nil {
		t.Fatalf("upload after the sweep: %v", err)
	}
	if rec.first != 0 {
		t.Fatalf("upload after the sweep started at %d, want 0", rec.first)
	}
	if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
		t.Fatal("committed object differs")
	}
}

// TestSweepStagingAtStart: a relay started with a stale partial file in
// its staging folder removes it, and with keep_partial negative keeps it.
func TestSweepStagingAtStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep time.Duration
		kept bool
	}{{"default", 0, false}, {"negative", -1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			stale := filepath.Join(dataDir, stagingDirName, "stale.part")
			if err := os.MkdirAll(filepath.Dir(stale), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-8 * 24 * time.Hour)
			if err := os.Chtimes(stale, old, old); err != nil {
				t.Fatal(err)
			}
			startRelay(t, envOptions{dataDir: dataDir, config: func(c *Config) { c.Staging.KeepPartial = tc.keep }})
			if _, err := os.Stat(stale); (err == nil) != tc.kept {
				t.Fatalf("stale partial file kept: %v, want %v", err == nil, tc.kept)
			}
		})
	}
}

// TestSweepAbortsUnrecordedUploads: an unfinished multipart upload in the
// bucket that no staging state refers to (a relay killed before it
// recorded the upload, a staging folder lost) is aborted once idle for
// keep_partial; the cut upload the relay recorded is spared, and resumes.
func TestSweepAbortsUnrecordedUploads(t *testing.T) {
	e, core, a, f := cutStreamed(t)
	r, _ := e.srv.resources()
	ctx := t.Context()
	ps := r.objects.(store.PartStore)
	const orphan = "projects/trial-1/studies/1.2.3/series/1.2.3.4/1.2.3.4.9.f-lost.0123.dgseal"
	id, err := ps.BeginParts(ctx, orphan)
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte{1}, int(ps.PartSize(1<<30)))
	if _, err := ps.PutPart(ctx, orphan, id, store.Part{N: 1, Size: int64(len(part))}, bytes.NewReader(part)); err != nil {
		t.Fatal(err)
	}
	if open := openUploads(t, e, core); len(open) != 2 {
		t.Fatalf("multipart uploads before the sweep: %v", open)
	}
	if n, err := e.srv.sweepStaleParts(ctx, r.stagingDir, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep of uploads younger than keep_partial aborted %d (%v)", n, err)
	}
	if n, err := e.srv.sweepStaleParts(ctx, r.stagingDir, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("sweep aborted %d (%v), want the unrecorded upload", n, err)
	}
	open := openUploads(t, e, core)
	if len(open) != 1 || open[0] == orphan {
		t.Fatalf("multipart uploads after the sweep: %v, want the recorded one only", open)
	}
	rcpt, err := a.upload(ctx, f)
	if err != nil {
		t.Fatalf("resume after the sweep: %v", err)
	}
	if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
		t.Error("committed object differs from the sealed file")
	}
}
