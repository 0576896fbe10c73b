package dimse

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"dicomgate/internal/dicomtest"
)

// corpusFile is one generated file with its meta and data set offset.
type corpusFile struct {
	dicomtest.File
	meta FileMeta
	body []byte // the data set: the bytes after the file meta group
}

// writeCorpus generates a corpus into dir and returns its files.
func writeCorpus(t testing.TB, dir string, seed uint64, opts dicomtest.CorpusOptions) []corpusFile {
	t.Helper()
	files, _, err := dicomtest.New(seed).Corpus(opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusFile
	for _, f := range files {
		if !slices.Contains(opts.TransferSyntaxes, f.TransferSyntax) && len(opts.TransferSyntaxes) > 0 {
			continue // the JPEG-labelled Secondary Capture, unless asked for
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		meta, body := splitPart10(t, f.Data)
		out = append(out, corpusFile{File: f, meta: meta, body: body})
	}
	return out
}

// splitPart10 returns the file meta and the data set bytes of a file.
func splitPart10(t testing.TB, data []byte) (FileMeta, []byte) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(data))
	meta, err := ReadFileMeta(br)
	if err != nil {
		t.Fatalf("read meta: %v", err)
	}
	rest := br.Buffered()
	var tail bytes.Buffer
	_, _ = tail.ReadFrom(br)
	_ = rest
	return meta, tail.Bytes()
}

// storescuArgs returns the storescu command line sending dir to addr.
func storescuArgs(t testing.TB, addr, aet, aec string, flags []string, dir string) []string {
	h, p := hostPort(t, addr)
	args := append([]string{"-aet", aet, "-aec", aec, "+sd", "+r", "+sp", "*.dcm", "-R"}, flags...)
	return append(args, h, p, dir)
}

// checkReceived checks the files the handler wrote into got against the
// sent corpus: every instance arrived, parses with dcmdump and carries the
// file meta we promise; its data set is byte-identical to ref's (what
// storescp received, bit-preserving, from the same storescu command line).
// It returns how many are also byte-identical to the source file (storescu
// re-encodes data sets, so not all are).
func checkReceived(t *testing.T, sent []corpusFile, got string, ref map[string]received) (sameAsSource int) {
	t.Helper()
	for _, f := range sent {
		p := filepath.Join(got, f.meta.MediaStorageSOPInstanceUID+".dcm")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: not received: %v", f.Name, err)
			continue
		}
		meta, body := splitPart10(t, data)
		if meta.MediaStorageSOPClassUID != f.meta.MediaStorageSOPClassUID || meta.ImplementationClassUID != ImplementationClassUID {
			t.Errorf("%s: meta %+v", f.Name, meta)
		}
		if r, ok := ref[f.meta.MediaStorageSOPInstanceUID]; !ok {
			t.Errorf("%s: storescp did not receive it", f.Name)
		} else if r.syntax != meta.TransferSyntaxUID {
			t.Errorf("%s: negotiated %s, storescp %s", f.Name, meta.TransferSyntaxUID, r.syntax)
		} else if !bytes.Equal(body, r.body) {
			t.Errorf("%s: data set differs from storescp's (%d bytes vs %d, syntax %s)", f.Name, len(body), len(r.body), meta.TransferSyntaxUID)
		}
		if meta.TransferSyntaxUID == f.meta.TransferSyntaxUID && bytes.Equal(body, f.body) {
			sameAsSource++
		}
		if out, err := run(t, "dcmdump", "-q", p); err != nil {
			t.Errorf("%s: dcmdump: %v\n%s", f.Name, err, out)
		}
	}
	return sameAsSource
}

// TestStoreSCUIntake sends a corpus with dcmtk storescu in several
// transfer syntax proposals and checks what the handler wrote.
func TestStoreSCUIntake(t *testing.T) {
	needTool(t, "storescu", "dcmdump")
	// storescu converts between the uncompressed syntaxes but cannot
	// transcode RLE or JPEG: those files go in runs proposing their syntax.
	uncompressed := []string{dicomtest.ExplicitVRLittleEndian, dicomtest.ImplicitVRLittleEndian,
		dicomtest.ExplicitVRBigEndian, dicomtest.DeflatedExplicitVRLittleEndian}
	for _, tc := range []struct {
		name     string
		flags    []string
		syntaxes []string
		scpFlags []string // storescp's preference, to match ours
	}{
		{"default", nil, uncompressed, []string{"+xe"}},
		{"implicit", []string{"-xi"}, uncompressed, []string{"+xe"}},
		{"explicit-le", []string{"-xe"}, uncompressed, []string{"+xe"}},
		{"explicit-be", []string{"-xb"}, uncompressed, []string{"+xe"}},
		{"deflated", []string{"-xd"}, uncompressed, []string{"+xd"}},
		{"rle", []string{"-xr"}, []string{dicomtest.RLELossless}, []string{"+xr"}},
		{"jpeg", []string{"-xy"}, []string{dicomtest.JPEGBaseline8Bit}, []string{"+xy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			sent := writeCorpus(t, src, 7, dicomtest.CorpusOptions{Patients: 2, Slices: 6, TransferSyntaxes: tc.syntaxes})
			store := &dirStore{dir: t.TempDir()}
			srv := &Server{AETitle: "GATE", Logger: testLogger(t), Handler: store}
			addr := startServer(t, srv)
			out, err := run(t, "storescu", storescuArgs(t, addr, "MODALITY", "GATE", tc.flags, src)...)
			if err != nil {
				t.Fatalf("storescu: %v\n%s", err, out)
			}
			if n := len(store.requests()); n != len(sent) {
				t.Fatalf("stored %d instances, sent %d\n%s", n, len(sent), out)
			}
			refDir := t.TempDir()
			refAddr := startStorescp(t, refDir, tc.scpFlags...)
			if out, err := run(t, "storescu", storescuArgs(t, refAddr, "MODALITY", "STORESCP", tc.flags, src)...); err != nil {
				t.Fatalf("storescu to storescp: %v\n%s", err, out)
			}
			id := checkReceived(t, sent, store.dir, readDirByInstance(t, refDir))
			syntaxes := map[string]int{}
			for _, r := range store.requests() {
				syntaxes[r.TransferSyntax]++
			}
			t.Logf("%d instances, all byte-identical to storescp's, %d byte-identical to the source file, received syntaxes %v", len(sent), id, syntaxes)
		})
	}
}

// TestStoreSCUConcurrent runs three storescu processes at once.
func TestStoreSCUConcurrent(t *testing.T) {
	needTool(t, "storescu", "dcmdump")
	store := &dirStore{dir: t.TempDir()}
	srv := &Server{AETitle: "GATE", Logger: testLogger(t).Level(1), Handler: store}
	addr := startServer(t, srv)
	var all []corpusFile
	dirs := make([]string, 3)
	for i := range dirs {
		dirs[i] = t.TempDir()
		all = append(all, writeCorpus(t, dirs[i], uint64(100+i), dicomtest.CorpusOptions{Patients: 2, Slices: 10,
			TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian, dicomtest.ImplicitVRLittleEndian}})...)
	}
	var wg sync.WaitGroup
	errs := make([]string, len(dirs))
	for i, d := range dirs {
		wg.Go(func() {
			if out, err := run(t, "storescu", storescuArgs(t, addr, fmt.Sprintf("MOD%d", i), "GATE", []string{"-xe"}, d)...); err != nil {
				errs[i] = fmt.Sprintf("storescu %d: %v\n%s", i, err, out)
			}
		})
	}
	wg.Wait()
	if e := strings.Join(errs, ""); e != "" {
		t.Fatal(e)
	}
	if n := len(store.requests()); n != len(all) {
		t.Fatalf("stored %d instances, sent %d", n, len(all))
	}
	refDir := t.TempDir()
	refAddr := startStorescp(t, refDir, "+xe")
	for i, d := range dirs {
		if out, err := run(t, "storescu", storescuArgs(t, refAddr, fmt.Sprintf("MOD%d", i), "STORESCP", []string{"-xe"}, d)...); err != nil {
			t.Fatalf("storescu to storescp: %v\n%s", err, out)
		}
	}
	checkReceived(t, all, store.dir, readDirByInstance(t, refDir))
	t.Logf("%d instances from 3 concurrent associations", len(all))
}
