package dimse

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzReadPDU")

// samplePDUs returns one valid PDU of each type.
func samplePDUs() []PDU {
	return []PDU{
		&AssociateRQ{ProtocolVersion: 1, CalledAE: "GATE", CallingAE: "CT01", AppContext: ApplicationContextUID,
			Contexts: []ProposedContext{
				{ID: 1, AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{ImplicitVRLittleEndian}},
				{ID: 3, AbstractSyntax: "1.2.840.10008.5.1.4.1.1.2", TransferSyntaxes: []string{ExplicitVRLittleEndian, RLELossless}},
			},
			User: UserInfo{MaxPDULength: 16384, ImplementationClassUID: "1.2.3.4", ImplementationVersion: "X_1"}},
		&AssociateAC{ProtocolVersion: 1, CalledAE: "GATE", CallingAE: "CT01", AppContext: ApplicationContextUID,
			Contexts: []ContextResult{{ID: 1, TransferSyntax: ImplicitVRLittleEndian}, {ID: 3, Result: pcAbstractNotSupported}},
			User:     UserInfo{MaxPDULength: 65536, ImplementationClassUID: ImplementationClassUID}},
		&AssociateRJ{Result: 1, Source: 1, Reason: 3},
		&PDataTF{Items: []PDV{{ContextID: 1, Command: true, Last: true, Data: (&command{Field: cEchoRQ, MessageID: 7, SOPClassUID: VerificationSOPClass}).encode()},
			{ContextID: 3, Data: []byte{1, 2, 3, 4}}}},
		&ReleaseRQ{}, &ReleaseRP{}, &Abort{Source: 2, Reason: 1},
	}
}

// TestPDURoundTrip encodes and decodes each PDU type.
func TestPDURoundTrip(t *testing.T) {
	for _, p := range samplePDUs() {
		b, err := encodePDU(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadPDU(bytes.NewReader(b), Limits{})
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("%T: got %+v, want %+v", p, got, p)
		}
	}
}

// TestPDULimits checks the length limits and the unknown type.
func TestPDULimits(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		lim  Limits
		want error
	}{
		{[]byte{4, 0, 0, 0x10, 0, 0}, Limits{PData: 4096}, ErrPDUTooLarge},
		{[]byte{1, 0, 0x10, 0, 0, 0}, Limits{}, ErrPDUTooLarge},
		{[]byte{8, 0, 0, 0, 0, 4, 0, 0, 0, 0}, Limits{}, ErrUnknownPDU},
		{[]byte{7, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0}, Limits{}, ErrMalformedPDU},
		{[]byte{4, 0, 0, 0, 0, 0}, Limits{}, ErrMalformedPDU},
	} {
		if _, err := ReadPDU(bytes.NewReader(tc.in), tc.lim); !errors.Is(err, tc.want) {
			t.Errorf("% x: %v, want %v", tc.in, err, tc.want)
		}
	}
}

// FuzzReadPDU feeds arbitrary bytes to the PDU reader and the command
// decoder: they must fail cleanly, never panic or allocate past the limits,
// and whatever they accept must re-encode.
func FuzzReadPDU(f *testing.F) {
	for _, p := range samplePDUs() {
		b, _ := encodePDU(nil, p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newPDUReader(bytes.NewReader(data), Limits{PData: MinMaxPDU, Associate: 1 << 16})
		for range 4 {
			p, err := r.next()
			if err != nil {
				return
			}
			if pd, ok := p.(*PDataTF); ok {
				for _, v := range pd.Items {
					if v.Command {
						_, _ = decodeCommand(v.Data)
					}
				}
			}
			if rq, ok := p.(*AssociateRQ); ok {
				for _, pc := range rq.Contexts {
					_ = negotiateContext(pc)
				}
			}
			if _, err := encodePDU(nil, p); err != nil && !isAETitleError(err) {
				t.Fatalf("re-encode %T: %v", p, err)
			}
		}
	})
}

// isAETitleError reports the one encoding error a decoded PDU may hit.
func isAETitleError(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("ae title"))
}

// TestWriteFuzzSeeds rewrites the committed seed corpus with -update-seeds:
// the sample PDUs plus hostile variants (truncations, huge lengths, unknown
// types, bad PDVs and items).
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzReadPDU")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReadPDU")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var seeds [][]byte
	for _, p := range samplePDUs() {
		b, _ := encodePDU(nil, p)
		seeds = append(seeds, b, b[:len(b)/2], append(append([]byte{}, b...), b...))
	}
	seeds = append(seeds,
		[]byte{0x09, 0, 0, 0, 0, 4, 0, 0, 0, 0},
		[]byte{0x01, 0, 0xff, 0xff, 0xff, 0xff},
		[]byte{0x04, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0},
		[]byte{0x04, 0, 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 1, 3},
		[]byte{0x04, 0, 0, 0, 0, 8, 0, 0, 0, 4, 1, 3, 0xff, 0xff},
		[]byte{0x02, 0, 0, 0, 0, 72, 0, 1},
		[]byte{0x05, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0},
		[]byte{},
	)
	for i, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
