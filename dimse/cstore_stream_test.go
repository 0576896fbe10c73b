package dimse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// ctStorage is the CT Image Storage SOP class.
const ctStorage = storagePrefix + "2"

// recorder is a Handler keeping each instance's bytes, or the read error
// its data set ended with.
type recorder struct {
	mu   sync.Mutex
	got  map[string][]byte
	errs chan error
}

// newRecorder returns an empty recorder.
func newRecorder() *recorder {
	return &recorder{got: map[string][]byte{}, errs: make(chan error, 8)}
}

// Store implements Handler.
func (h *recorder) Store(ctx context.Context, req StoreRequest, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		h.errs <- err
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got[req.SOPInstanceUID] = b
	return nil
}

// rawAssociate opens an association over raw TCP proposing CT Image
// Storage in explicit VR little endian on context 1.
func rawAssociate(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := WritePDU(c, &AssociateRQ{CalledAE: "GATE", CallingAE: "RAW",
		Contexts: []ProposedContext{{ID: 1, AbstractSyntax: ctStorage, TransferSyntaxes: []string{ExplicitVRLittleEndian}}},
		User:     UserInfo{MaxPDULength: 16384}}); err != nil {
		t.Fatal(err)
	}
	p, err := ReadPDU(c, Limits{})
	if ac, ok := p.(*AssociateAC); !ok || len(ac.Contexts) != 1 || ac.Contexts[0].Result != pcAccepted {
		t.Fatalf("want A-ASSOCIATE-AC accepting context 1, got %T %v", p, err)
	}
	return c
}

// storeRQ is the command set of a C-STORE-RQ for instance uid.
func storeRQ(id uint16, uid string) []byte {
	return (&command{Field: cStoreRQ, MessageID: id, SOPClassUID: ctStorage, SOPInstanceUID: uid, HasDataSet: true}).encode()
}

// readStoreRSP reads one C-STORE-RSP and returns it.
func readStoreRSP(t *testing.T, c net.Conn) *command {
	t.Helper()
	p, err := ReadPDU(c, Limits{})
	pd, ok := p.(*PDataTF)
	if !ok || len(pd.Items) != 1 || !pd.Items[0].Command || !pd.Items[0].Last {
		t.Fatalf("want a C-STORE-RSP in one PDV, got %T %v", p, err)
	}
	cmd, err := decodeCommand(pd.Items[0].Data)
	if err != nil || cmd.Field != cStoreRSP {
		t.Fatalf("want a C-STORE-RSP, got %+v %v", cmd, err)
	}
	return cmd
}

// TestDataSetsInOnePDU sends two whole C-STORE messages, the first data set
// in two fragments, in one P-DATA-TF: the handler reads the first data set
// on the association's goroutine, and what the PDU holds after it (the
// second message) is handled next, not lost.
func TestDataSetsInOnePDU(t *testing.T) {
	h := newRecorder()
	addr := startServer(t, &Server{AETitle: "GATE", Logger: testLogger(t), Handler: h})
	c := rawAssociate(t, addr)
	first := bytes.Repeat([]byte("0123456789abcdef"), 64)
	second := []byte("second data set!")
	if err := WritePDU(c, &PDataTF{Items: []PDV{
		{ContextID: 1, Command: true, Last: true, Data: storeRQ(1, "1.2.3.1")},
		{ContextID: 1, Data: first[:500]},
		{ContextID: 1, Last: true, Data: first[500:]},
		{ContextID: 1, Command: true, Last: true, Data: storeRQ(2, "1.2.3.2")},
		{ContextID: 1, Last: true, Data: second},
	}}); err != nil {
		t.Fatal(err)
	}
	for want := uint16(1); want <= 2; want++ {
		if rsp := readStoreRSP(t, c); rsp.RespondedTo != want || rsp.Status != StatusSuccess {
			t.Fatalf("response %+v, want success to message %d", rsp, want)
		}
	}
	if err := WritePDU(c, &ReleaseRQ{}); err != nil {
		t.Fatal(err)
	}
	if p, err := ReadPDU(c, Limits{}); err != nil || p.Type() != pduReleaseRP {
		t.Fatalf("want A-RELEASE-RP, got %v %v", p, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !bytes.Equal(h.got["1.2.3.1"], first) || !bytes.Equal(h.got["1.2.3.2"], second) {
		t.Fatalf("stored %d and %d bytes, want %d and %d", len(h.got["1.2.3.1"]), len(h.got["1.2.3.2"]), len(first), len(second))
	}
}

// TestDataSetCut ends an association in the middle of a data set in each
// way the protocol allows: the handler's read fails with ErrAborted (never
// a clean end of data), nothing is answered but the A-ABORT a protocol
// violation earns, and the server goes on serving.
func TestDataSetCut(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cut       func(c net.Conn) error
		wantAbort bool
	}{
		{"connection closed", func(c net.Conn) error { return c.(*net.TCPConn).CloseWrite() }, false},
		{"a-abort", func(c net.Conn) error { return WritePDU(c, &Abort{}) }, false},
		{"a-release-rq", func(c net.Conn) error { return WritePDU(c, &ReleaseRQ{}) }, true},
		{"command fragment", func(c net.Conn) error {
			return WritePDU(c, &PDataTF{Items: []PDV{{ContextID: 1, Command: true, Last: true, Data: storeRQ(2, "1.2.3.2")}}})
		}, true},
		{"truncated pdu", func(c net.Conn) error {
			if _, err := c.Write(binary.BigEndian.AppendUint32([]byte{pduPDataTF, 0}, 100)); err != nil {
				return err
			}
			return c.(*net.TCPConn).CloseWrite()
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newRecorder()
			addr := startServer(t, &Server{AETitle: "GATE", Logger: testLogger(t), Handler: h})
			c := rawAssociate(t, addr)
			if err := WritePDU(c, &PDataTF{Items: []PDV{
				{ContextID: 1, Command: true, Last: true, Data: storeRQ(1, "1.2.3.1")},
				{ContextID: 1, Data: []byte("part of a data set")},
			}}); err != nil {
				t.Fatal(err)
			}
			if err := tc.cut(c); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-h.errs:
				if !errors.Is(err, ErrAborted) || errors.Is(err, io.EOF) {
					t.Fatalf("handler read error %v, want ErrAborted", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("handler not told about the cut")
			}
			rest, _ := io.ReadAll(c)
			p, err := ReadPDU(bytes.NewReader(rest), Limits{})
			if a, ok := p.(*Abort); tc.wantAbort && (!ok || a.Source != abortSourceProvider) {
				t.Fatalf("want A-ABORT from the provider, got %T %v (%x)", p, err, rest)
			}
			if !tc.wantAbort && len(rest) > 0 {
				t.Fatalf("want no answer, got %x", rest)
			}
			if len(h.got) != 0 {
				t.Fatalf("a cut data set was stored")
			}
			a, err := Dial(context.Background(), addr, "AFTER", "GATE")
			if err != nil {
				t.Fatal(err)
			}
			defer a.Abort()
			if err := a.Echo(context.Background()); err != nil {
				t.Fatalf("echo after the cut: %v", err)
			}
		})
	}
}

// cycle reads b over and over.
type cycle struct {
	b   []byte
	off int
}

// Read implements io.Reader.
func (c *cycle) Read(p []byte) (int, error) {
	n := copy(p, c.b[c.off:])
	c.off = (c.off + n) % len(c.b)
	return n, nil
}

// TestPDataReadAllocs checks that reading P-DATA-TF PDUs allocates nothing
// once the reader's buffers have grown.
func TestPDataReadAllocs(t *testing.T) {
	b, err := encodePDU(nil, &PDataTF{Items: []PDV{
		{ContextID: 1, Data: make([]byte, 16000)}, {ContextID: 1, Last: true, Data: make([]byte, 300)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := newPDUReader(&cycle{b: b}, Limits{PData: DefaultMaxPDU})
	allocs := testing.AllocsPerRun(100, func() {
		if p, err := r.next(); err != nil || len(p.(*PDataTF).Items) != 2 {
			t.Fatalf("next: %v %v", p, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per P-DATA-TF, want 0", allocs)
	}
}
