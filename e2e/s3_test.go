package e2e

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dicomgate/internal/demo"
	"dicomgate/internal/dicomtest"
	"dicomgate/store"
	"dicomgate/store/storetest"
)

// TestEndToEndS3 drops 200+ synthetic files into a site agent whose relay
// stores in a real S3 server (versitygw on 127.0.0.1). Every file must be
// committed and fetched byte-identical to `dicomgate anonymize` of the same
// input with the same secret (checked inside demo.Run), and the bucket must
// hold no readable DICOM and no planted identifier.
func TestEndToEndS3(t *testing.T) {
	s3 := storetest.StartS3(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := demo.Run(ctx, demo.Options{WorkDir: dir, Patients: 10, Slices: 16, S3: &s3, Seed: 7, Out: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inputs < 200 || res.Committed != res.Inputs-res.Quarantined || res.Identical != res.Committed {
		t.Fatalf("inputs %d, committed %d, quarantined %d, identical %d", res.Inputs, res.Committed, res.Quarantined, res.Identical)
	}

	// Scan every object in the bucket.
	key, err := dicomtest.ReadKey(filepath.Join(dir, "originals", dicomtest.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	s3.CreateBucket = false
	bucket, err := store.NewS3(ctx, s3)
	if err != nil {
		t.Fatal(err)
	}
	objects := 0
	err = bucket.List(ctx, "", func(oi store.ObjectInfo) error {
		objects++
		rc, err := bucket.Get(ctx, oi.Key, 0)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if len(data) >= 132 && bytes.Equal(data[128:132], []byte("DICM")) {
			t.Errorf("object %s is readable DICOM", oi.Key)
		}
		if leaks := key.Search(data, func(p dicomtest.Planted) bool {
			return p.Searchable && strings.Trim(p.Value, "0123456789.+- ") != ""
		}); len(leaks) > 0 {
			t.Errorf("object %s contains a planted %s value", oi.Key, leaks[0].Class)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if objects < res.Committed {
		t.Fatalf("%d objects in the bucket for %d committed files", objects, res.Committed)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
