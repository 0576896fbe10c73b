package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    Frame
		wantErr error
	}{
		{name: "empty payload", in: []byte{5, 0, 0, 0, 0}, want: Frame{Type: FrameDone, Payload: []byte{}}},
		{name: "payload", in: []byte{4, 0, 0, 0, 3, 'a', 'b', 'c'}, want: Frame{Type: FrameData, Payload: []byte("abc")}},
		{name: "clean end", in: nil, wantErr: io.EOF},
		{name: "short header", in: []byte{4, 0, 0}, wantErr: io.ErrUnexpectedEOF},
		{name: "short payload", in: []byte{4, 0, 0, 0, 3, 'a'}, wantErr: io.ErrUnexpectedEOF},
		{name: "over limit", in: []byte{4, 0, 0, 0, 4, 'a', 'b', 'c', 'd'}, max: 3, wantErr: ErrFrameTooLarge},
		{name: "over MaxFrameSize", in: []byte{2, 0, 0x40, 0, 1}, wantErr: ErrFrameTooLarge},
		{name: "huge length", in: []byte{2, 0xff, 0xff, 0xff, 0xff}, wantErr: ErrFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tc.in), tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (got.Type != tc.want.Type || !bytes.Equal(got.Payload, tc.want.Payload)) {
				t.Fatalf("got %v %q, want %v %q", got.Type, got.Payload, tc.want.Type, tc.want.Payload)
			}
		})
	}
}

func TestWriteFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	payloads := [][]byte{nil, []byte("x"), bytes.Repeat([]byte{7}, DataChunkSize)}
	for i, p := range payloads {
		if err := WriteFrame(&buf, FrameType(i+1), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFrame(&buf, FrameData, make([]byte, MaxFrameSize+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized write: %v", err)
	}
	for i, p := range payloads {
		f, err := ReadFrame(&buf, 0)
		if err != nil || f.Type != FrameType(i+1) || !bytes.Equal(f.Payload, p) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	_, offer := testFile("msg", 1234)
	got, err := unmarshalOffer(offer.marshal())
	if err != nil || got.ID != offer.ID || got.Size != offer.Size || got.SHA256 != offer.SHA256 || !bytes.Equal(got.Manifest, offer.Manifest) {
		t.Fatalf("offer round trip: %+v %v", got, err)
	}
	bad := [][]byte{
		nil,
		offer.marshal()[:10],
		append(offer.marshal(), 0),
		(&Offer{ID: "", Size: 1}).marshal(),
		(&Offer{ID: "x", Size: -1}).marshal(),
	}
	for i, b := range bad {
		if _, err := unmarshalOffer(b); err == nil {
			t.Errorf("bad offer %d accepted", i)
		}
	}
	if v, err := parseHello(marshalHello()); err != nil || v != ProtocolVersion {
		t.Fatalf("hello: %d %v", v, err)
	}
	if _, err := parseHello([]byte("XXXX\x00\x01")); err == nil {
		t.Fatal("bad hello magic accepted")
	}
	e, err := unmarshalError(marshalError(rejTooLarge))
	if err != nil || *e != *rejTooLarge {
		t.Fatalf("error round trip: %v", err)
	}
}

// FuzzReadFrame checks that the frame reader never panics, never returns a
// payload above the limit, and that what it returns re-encodes to its input.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{5, 0, 0, 0, 0}, 16)
	f.Add([]byte{4, 0, 0, 0, 3, 'a', 'b', 'c'}, 16)
	f.Add([]byte{2, 0xff, 0xff, 0xff, 0xff}, 16)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		max = max%(1<<16) + 1
		if max <= 0 {
			max = 1
		}
		r := bytes.NewReader(in)
		fr, err := ReadFrame(r, max)
		if err != nil {
			return
		}
		if len(fr.Payload) > max {
			t.Fatalf("payload %d above limit %d", len(fr.Payload), max)
		}
		var buf bytes.Buffer
		if err := WriteFrame(&buf, fr.Type, fr.Payload); err != nil {
			t.Fatal(err)
		}
		if consumed := len(in) - r.Len(); !bytes.Equal(buf.Bytes(), in[:consumed]) {
			t.Fatal("re-encoding differs from input")
		}
		// Payload decoders must not panic either.
		unmarshalOffer(fr.Payload)
		unmarshalReceipt(fr.Payload)
		unmarshalError(fr.Payload)
		unmarshalEnrolResponse(fr.Payload)
		unmarshalEnrolRequest(fr.Payload)
		parseHello(fr.Payload)
	})
}
