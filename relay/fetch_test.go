package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"dicomgate/seal"
	"dicomgate/transport"
)

func TestFetchRefusesTampering(t *testing.T) {
	ctx := context.Background()
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wrongLab, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tamper  func(t *testing.T, e *env, objectPath string)
		opts    func(e *env, o *FetchOptions)
		wantErr error // or, when nil, an API error with code "object_damaged"
	}{
		{"byte flipped in the stored object", func(t *testing.T, e *env, p string) { flipByte(t, p, 2000) }, nil, ErrManifestMismatch},
		{"header byte flipped in the stored object", func(t *testing.T, e *env, p string) { flipByte(t, p, 20) }, nil, ErrManifestMismatch},
		{"object truncated", func(t *testing.T, e *env, p string) {
			if err := os.Truncate(p, 100); err != nil {
				t.Fatal(err)
			}
		}, nil, nil},
		{"wrong core-lab key", nil, func(e *env, o *FetchOptions) { o.Identity = wrongLab }, seal.ErrNoIdentityMatch},
		{"agent key not trusted", nil, func(e *env, o *FetchOptions) {
			o.TrustedAgents = []ed25519.PublicKey{stranger.Public().(ed25519.PublicKey)}
		}, seal.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startRelay(t, envOptions{})
			a := e.enrol(t, testProject, testSite, transport.ModeTCP)
			f := e.seal(t, a, fileSpec{size: 20000})
			rcpt, err := a.upload(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				tc.tamper(t, e, filepath.Join(e.cfg.Store.FS.Dir, filepath.FromSlash(rcpt.ObjectKey)))
			}
			out := t.TempDir()
			opts := FetchOptions{Project: testProject, Identity: e.lab, OutDir: out}
			if tc.opts != nil {
				tc.opts(e, &opts)
			}
			res, err := Fetch(ctx, e.client(e.token), opts)
			var ae *APIError
			if tc.wantErr == nil && (!errors.As(err, &ae) || ae.Code != "object_damaged") || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("fetch err = %v, want %v", err, tc.wantErr)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.FileID != f.offer.ID {
				t.Fatalf("fetch err = %v, want a FileError for %s", err, f.offer.ID)
			}
			if res.Failed != 1 || res.Fetched != 0 {
				t.Fatalf("result = %+v", res)
			}
			if left := dcmFiles(t, out); len(left) != 0 {
				t.Fatalf("files written despite the failure: %v", left)
			}
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFetchResumesPartialDownload(t *testing.T) {
	ctx := context.Background()
	e := startRelay(t, envOptions{})
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	f := e.seal(t, a, fileSpec{size: 100_000})
	if _, err := a.upload(ctx, f); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	// A previous run was cut after 30000 bytes.
	const have = 30000
	part := filepath.Join(out, partialDirName, f.offer.ID+".dgseal.part")
	if err := os.MkdirAll(filepath.Dir(part), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(part, f.sealed[:have], 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Fetch(ctx, e.client(e.token), FetchOptions{Project: testProject, Identity: e.lab, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fetched != 1 || res.Bytes != int64(len(f.sealed)-have) {
		t.Fatalf("result = %+v, want %d bytes downloaded", res, len(f.sealed)-have)
	}
	checkFetched(t, out, []*testFile{f})
	if _, err := os.Stat(filepath.Join(out, partialDirName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial dir left behind: %v", err)
	}
}
