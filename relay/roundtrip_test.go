package relay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"dicomgate/store"
	"dicomgate/store/storetest"
	"dicomgate/transport"
)

func TestUploadAndFetchFS(t *testing.T) {
	for _, mode := range []transport.Mode{transport.ModeQUIC, transport.ModeTCP} {
		t.Run(string(mode), func(t *testing.T) {
			e := startRelay(t, envOptions{})
			objects, err := store.NewFS(e.cfg.Store.FS.Dir)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, e, mode, objects)
			checkDirNoPlaintext(t, e.cfg.DataDir)
		})
	}
}

func TestUploadAndFetchS3(t *testing.T) {
	s3 := storetest.StartS3(t)
	e := startRelay(t, envOptions{store: StoreConfig{Type: "s3", S3: s3}})
	objects, err := store.NewS3(context.Background(), s3)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, e, transport.ModeAuto, objects)
	checkDirNoPlaintext(t, e.cfg.DataDir)
}

// roundTrip uploads files of two studies, checks receipts and idempotence,
// fetches them as the core lab, then adds a late file to a study and
// fetches again.
func roundTrip(t *testing.T, e *env, mode transport.Mode, objects store.ObjectStore) {
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, mode)
	const s1, s2 = "1.2.826.0.1.3680043.10.1", "1.2.826.0.1.3680043.10.2"
	files := []*testFile{
		e.seal(t, a, fileSpec{study: s1, series: s1 + ".1", sop: s1 + ".1.1", size: 300_000}),
		e.seal(t, a, fileSpec{study: s1, series: s1 + ".1", sop: s1 + ".1.2"}),
		e.seal(t, a, fileSpec{study: s1, series: s1 + ".2", sop: s1 + ".2.1"}),
		e.seal(t, a, fileSpec{study: s2, series: s2 + ".1", sop: s2 + ".1.1", size: 1}),
	}
	receipts := map[string]*transport.Receipt{}
	for _, f := range files {
		rec, err := a.upload(ctx, f)
		if err != nil {
			t.Fatalf("upload %s: %v", f.offer.ID, err)
		}
		if err := rec.Verify(e.receipt); err != nil {
			t.Fatalf("receipt: %v", err)
		}
		m := f.manifest
		want := "projects/" + testProject + "/studies/" + m.StudyInstanceUID + "/series/" + m.SeriesInstanceUID + "/" + m.SOPInstanceUID + "." + m.FileID + ".dgseal"
		if rec.ObjectKey != want || rec.Size != f.offer.Size || rec.SHA256 != f.offer.SHA256 {
			t.Fatalf("receipt = %+v, want key %s", rec, want)
		}
		receipts[f.offer.ID] = rec
		// The object in the store is the sealed file, byte for byte.
		rc, err := objects.Get(ctx, rec.ObjectKey, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		got.ReadFrom(rc)
		rc.Close()
		if !bytes.Equal(got.Bytes(), f.sealed) {
			t.Fatalf("stored object of %s differs from the sealed file", f.offer.ID)
		}
	}

	// Re-sending a committed file returns the same receipt.
	for _, f := range files[:2] {
		rec, err := a.upload(ctx, f)
		if err != nil {
			t.Fatalf("re-send: %v", err)
		}
		first := receipts[f.offer.ID]
		if !bytes.Equal(rec.Signature, first.Signature) || !rec.CommittedAt.Equal(first.CommittedAt) {
			t.Fatalf("re-send receipt differs: %+v vs %+v", rec, first)
		}
	}

	out := t.TempDir()
	c := e.client(e.token)
	res, err := Fetch(ctx, c, FetchOptions{Project: testProject, Identity: e.lab, OutDir: out})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.Fetched != len(files) || res.Failed != 0 {
		t.Fatalf("fetch result = %+v", res)
	}
	checkFetched(t, out, files)

	// Every object download was recorded.
	r, err := e.srv.resources()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		dl, err := r.db.ListDownloads(ctx, f.offer.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(dl) != 1 || dl[0].Principal != "core-lab" {
			t.Fatalf("downloads of %s = %+v", f.offer.ID, dl)
		}
	}

	// A file arriving later lands in the same study; a re-run fetches only it.
	late := e.seal(t, a, fileSpec{study: s1, series: s1 + ".1", sop: s1 + ".1.3"})
	if _, err := a.upload(ctx, late); err != nil {
		t.Fatal(err)
	}
	res, err = Fetch(ctx, c, FetchOptions{Project: testProject, Study: s1, Identity: e.lab, OutDir: out})
	if err != nil {
		t.Fatalf("second fetch: %v", err)
	}
	if res.Fetched != 1 || res.Skipped != 3 || res.Files != 4 {
		t.Fatalf("second fetch result = %+v", res)
	}
	checkFetched(t, out, append(files, late))

	checkStoreNoPlaintext(t, objects)
	checkNoPlaintext(t, "logs", []byte(e.logs.String()))
}

// checkFetched compares the files under out with the plaintexts.
func checkFetched(t *testing.T, out string, files []*testFile) {
	t.Helper()
	var want []string
	for _, f := range files {
		m := f.manifest
		rel := filepath.Join(m.StudyInstanceUID, m.SeriesInstanceUID, m.SOPInstanceUID+".dcm")
		want = append(want, filepath.ToSlash(rel))
		got, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.plain) {
			t.Fatalf("%s differs from the original plaintext", rel)
		}
	}
	got := dcmFiles(t, out)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("files in out = %v, want %v", got, want)
	}
}
