package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"dicomgate/internal/dicomtest"
)

// presentationsFor lists the pairs a corpus needs.
func presentationsFor(files []corpusFile) []Presentation {
	var ps []Presentation
	for _, f := range files {
		ps = append(ps, Presentation{f.meta.MediaStorageSOPClassUID, f.meta.TransferSyntaxUID})
	}
	return ps
}

// storeAll sends every file over one association and releases it.
func storeAll(t *testing.T, addr, called string, files []corpusFile) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &Dialer{Presentations: presentationsFor(files), Logger: testLogger(t)}
	a, err := d.Dial(ctx, addr, "DICOMGATE", called)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Echo(ctx); err != nil {
		t.Fatalf("echo: %v", err)
	}
	for _, f := range files {
		if err := a.Store(ctx, bytes.NewReader(f.Data)); err != nil {
			t.Fatalf("store %s: %v", f.Name, err)
		}
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
}

// allSyntaxes is a corpus in every syntax the generator writes.
func allSyntaxes() dicomtest.CorpusOptions {
	return dicomtest.CorpusOptions{Patients: 2, Slices: 5, TransferSyntaxes: append(dicomtest.AllTransferSyntaxes(), dicomtest.JPEGBaseline8Bit)}
}

// TestSCUToStorescp stores a corpus into dcmtk storescp with our SCU: the
// files storescp writes (bit-preserving) hold our data sets unchanged and
// parse with dcmdump.
func TestSCUToStorescp(t *testing.T) {
	needTool(t, "storescp", "dcmdump")
	files := writeCorpus(t, t.TempDir(), 11, allSyntaxes())
	out := t.TempDir()
	addr := startStorescp(t, out, "+xa", "-pm")
	storeAll(t, addr, "STORESCP", files)
	got := readDirByInstance(t, out)
	for _, f := range files {
		r, ok := got[f.meta.MediaStorageSOPInstanceUID]
		switch {
		case !ok:
			t.Errorf("%s: not written by storescp", f.Name)
		case r.syntax != f.meta.TransferSyntaxUID || !bytes.Equal(r.body, evenPadded(f.body)):
			t.Errorf("%s: storescp wrote %s, %d bytes; sent %s, %d bytes", f.Name, r.syntax, len(r.body), f.meta.TransferSyntaxUID, len(f.body))
		}
	}
	paths, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, p := range paths {
		if o, err := run(t, "dcmdump", "-q", p); err != nil {
			t.Errorf("dcmdump %s: %v\n%s", filepath.Base(p), err, o)
		}
	}
	t.Logf("%d files in %d transfer syntaxes stored into storescp, data sets byte-identical", len(files), len(allSyntaxes().TransferSyntaxes))
}

// TestSCUToServer stores a corpus with our SCU into our SCP: the Part 10
// files written by the handler hold the source data sets byte for byte.
func TestSCUToServer(t *testing.T) {
	files := writeCorpus(t, t.TempDir(), 12, allSyntaxes())
	store := &dirStore{dir: t.TempDir()}
	addr := startServer(t, &Server{Logger: testLogger(t), Handler: store, MaxPDU: MinMaxPDU})
	storeAll(t, addr, "GATE", files)
	got := readDirByInstance(t, store.dir)
	for _, f := range files {
		if r := got[f.meta.MediaStorageSOPInstanceUID]; r.syntax != f.meta.TransferSyntaxUID || !bytes.Equal(r.body, evenPadded(f.body)) {
			t.Errorf("%s: received %s, %d bytes; sent %s, %d bytes", f.Name, r.syntax, len(r.body), f.meta.TransferSyntaxUID, len(f.body))
		}
	}
}

// TestHandlerStatus checks the C-STORE-RSP status for handler errors and
// that an aborted transfer reaches the handler as an error.
func TestHandlerStatus(t *testing.T) {
	files := writeCorpus(t, t.TempDir(), 13, dicomtest.CorpusOptions{NoExtras: true, TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	for _, tc := range []struct {
		name string
		err  error
		want uint16
	}{
		{"out of resources", errors.New("disk full"), StatusOutOfResources},
		{"cannot understand", fmt.Errorf("bad header: %w", ErrCannotUnderstand), StatusCannotUnderstand},
		{"custom", &StatusError{Status: 0xA900}, 0xA900},
		{"panic", nil, StatusOutOfResources},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := HandlerFunc(func(ctx context.Context, req StoreRequest, r io.Reader) error {
				if tc.err == nil {
					panic("handler bug")
				}
				_, _ = io.CopyN(io.Discard, r, 10) // return early, mid-stream
				return tc.err
			})
			addr := startServer(t, &Server{Logger: testLogger(t), Handler: h, MaxPDU: MinMaxPDU})
			a, err := (&Dialer{Presentations: presentationsFor(files)}).Dial(context.Background(), addr, "SCU", "GATE")
			if err != nil {
				t.Fatal(err)
			}
			defer a.Abort()
			for range 2 { // the association survives a failure
				err = a.Store(context.Background(), bytes.NewReader(files[0].Data))
				var se *StatusError
				if !errors.As(err, &se) || se.Status != tc.want {
					t.Fatalf("status: %v, want 0x%04x", err, tc.want)
				}
			}
			if err := a.Echo(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("abort mid-stream", func(t *testing.T) {
		got := make(chan error, 1)
		h := HandlerFunc(func(ctx context.Context, req StoreRequest, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			got <- err
			return err
		})
		addr := startServer(t, &Server{Logger: testLogger(t), Handler: h})
		a, err := (&Dialer{Presentations: presentationsFor(files)}).Dial(context.Background(), addr, "SCU", "GATE")
		if err != nil {
			t.Fatal(err)
		}
		id, _ := a.contextFor(files[0].meta.MediaStorageSOPClassUID, ExplicitVRLittleEndian)
		_ = a.c.sendCommand(id, &command{Field: cStoreRQ, MessageID: 1, SOPClassUID: files[0].meta.MediaStorageSOPClassUID,
			SOPInstanceUID: "1.2.3", HasDataSet: true})
		w := a.c.fragmenter(id, false)
		_, _ = w.Write(files[0].body[:100])
		_ = w.flush(false)
		a.Abort()
		select {
		case err := <-got:
			if !errors.Is(err, ErrAborted) {
				t.Fatalf("handler read error %v, want ErrAborted", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("handler not told about the abort")
		}
	})
}

// evenPadded is a data set as sent: with the pad byte PS3.5 requires when
// its length is odd (the generator's deflated files).
func evenPadded(b []byte) []byte {
	if len(b)%2 == 1 {
		return append(append([]byte(nil), b...), 0)
	}
	return b
}
