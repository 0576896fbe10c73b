package dimse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestCallingAENotAllowed checks that an unlisted calling AE is rejected,
// by echoscu and by our SCU.
func TestCallingAENotAllowed(t *testing.T) {
	needTool(t, "echoscu")
	srv := &Server{AETitle: "GATE", AllowedCallingAEs: []string{"PACS"}, Logger: testLogger(t), Handler: &dirStore{dir: t.TempDir()}}
	addr := startServer(t, srv)
	h, p := hostPort(t, addr)
	out, err := run(t, "echoscu", "-aet", "INTRUDER", "-aec", "GATE", h, p)
	if err == nil || !strings.Contains(out, "Rejected") {
		t.Fatalf("echoscu from a disallowed AE: err %v\n%s", err, out)
	}
	if out, err := run(t, "echoscu", "-aet", "PACS", "-aec", "GATE", h, p); err != nil {
		t.Fatalf("echoscu from an allowed AE: %v\n%s", err, out)
	}
	_, err = Dial(context.Background(), addr, "INTRUDER", "GATE")
	var rj *RejectedError
	if !errors.As(err, &rj) || rj.Reason != rjReasonCallingAE || rj.Source != rjSourceUser {
		t.Fatalf("Dial from a disallowed AE: %v", err)
	}
	_, err = Dial(context.Background(), addr, "PACS", "WRONG")
	if !errors.As(err, &rj) || rj.Reason != rjReasonCalledAE {
		t.Fatalf("Dial to a wrong called AE: %v", err)
	}
}

// TestMalformedPDUs sends hostile bytes over raw TCP: each association is
// aborted (A-ABORT or close) and the server keeps serving.
func TestMalformedPDUs(t *testing.T) {
	needTool(t, "echoscu")
	srv := &Server{AETitle: "GATE", Logger: testLogger(t), Handler: &dirStore{dir: t.TempDir()}}
	addr := startServer(t, srv)
	rq, err := encodePDU(nil, &AssociateRQ{CalledAE: "GATE", CallingAE: "RAW",
		Contexts: []ProposedContext{{ID: 1, AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{ImplicitVRLittleEndian}}},
		User:     UserInfo{MaxPDULength: 16384}})
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(typ byte, n uint32) []byte {
		return binary.BigEndian.AppendUint32([]byte{typ, 0}, n)
	}
	pdata := func(body []byte) []byte { return append(hdr(pduPDataTF, uint32(len(body))), body...) }
	cases := []struct {
		name      string
		afterRQ   bool // send a valid A-ASSOCIATE-RQ first
		payload   []byte
		wantAbort bool
	}{
		{"unknown type", false, append(hdr(0x09, 4), 0, 0, 0, 0), true},
		{"huge associate length", false, hdr(pduAssociateRQ, 0xFFFFFFF0), true},
		{"truncated associate", false, rq[:40], false},
		{"associate garbage items", false, append(hdr(pduAssociateRQ, 80), make([]byte, 80)...), true},
		{"release with length 5", false, append(hdr(pduReleaseRQ, 5), 0, 0, 0, 0, 0), true},
		{"p-data before association", false, pdata([]byte{0, 0, 0, 3, 1, 3, 0}), true},
		{"huge p-data", true, hdr(pduPDataTF, 1<<30), true},
		{"p-data bad pdv length", true, pdata([]byte{0, 0, 0, 99, 1, 3, 0}), true},
		{"p-data unknown context", true, pdata([]byte{0, 0, 0, 3, 9, 3, 0}), true},
		{"data without command", true, pdata([]byte{0, 0, 0, 3, 1, 2, 0}), true},
		{"bad command set", true, pdata([]byte{0, 0, 0, 6, 1, 3, 8, 0, 0, 0}), true},
		{"unknown type after association", true, append(hdr(0x42, 4), 0, 0, 0, 0), true},
		{"second associate-rq", true, rq, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(40 * time.Second))
			if tc.afterRQ {
				if _, err := c.Write(rq); err != nil {
					t.Fatal(err)
				}
				p, err := ReadPDU(c, Limits{})
				if _, ok := p.(*AssociateAC); !ok {
					t.Fatalf("want A-ASSOCIATE-AC, got %T %v", p, err)
				}
			}
			if _, err := c.Write(tc.payload); err != nil {
				t.Fatal(err)
			}
			if cw, ok := c.(*net.TCPConn); ok && !tc.wantAbort {
				_ = cw.CloseWrite() // truncated: the server sees EOF mid-PDU
			}
			rest, _ := io.ReadAll(c)
			if tc.wantAbort {
				p, err := ReadPDU(bytes.NewReader(rest), Limits{})
				if a, ok := p.(*Abort); !ok || a.Source != abortSourceProvider {
					t.Fatalf("want A-ABORT from the provider, got %T %v (%x)", p, err, rest)
				}
			}
		})
	}
	h, p := hostPort(t, addr)
	if out, err := run(t, "echoscu", "-aet", "AFTER", "-aec", "GATE", h, p); err != nil {
		t.Fatalf("echoscu after the malformed PDUs: %v\n%s", err, out)
	}
}

// TestIdleTimeout checks that a silent association is aborted.
func TestIdleTimeout(t *testing.T) {
	srv := &Server{IdleTimeout: 200 * time.Millisecond, Logger: testLogger(t), Handler: &dirStore{dir: t.TempDir()}}
	addr := startServer(t, srv)
	a, err := Dial(context.Background(), addr, "SCU", "ANY")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	err = a.Echo(context.Background())
	if err == nil {
		t.Fatal("echo on an association that should have timed out succeeded")
	}
	t.Logf("echo after idle timeout: %v", err)
}
