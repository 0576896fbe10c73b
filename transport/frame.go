package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FrameType identifies the payload of a protocol frame.
type FrameType byte

// Frame types of protocol version 1. See docs/protocol.md for the layouts.
const (
	FrameHello         FrameType = 0x01 // magic + version, first frame of every exchange
	FrameOffer         FrameType = 0x02 // agent: a file it wants to upload
	FrameOffset        FrameType = 0x03 // relay: bytes it already holds
	FrameData          FrameType = 0x04 // agent: a chunk of file bytes
	FrameDone          FrameType = 0x05 // agent: end of file bytes (empty payload)
	FrameReceipt       FrameType = 0x06 // relay: signed receipt of a committed file
	FrameError         FrameType = 0x07 // either side: code + fixed message
	FrameEnrolRequest  FrameType = 0x08 // agent: token secret, public key, name
	FrameEnrolResponse FrameType = 0x09 // relay: agent ID, certificate chain, CA
	FrameClock         FrameType = 0x0A // agent: its clock (Unix ns)
	FrameClockReply    FrameType = 0x0B // relay: its clock (Unix ns)
	FrameRenewRequest  FrameType = 0x0C // agent: public key and proof, on its authenticated connection
	FrameRenewResponse FrameType = 0x0D // relay: the new certificate chain
)

const (
	// frameHeaderSize is one type byte plus a big-endian uint32 length.
	frameHeaderSize = 5
	// MaxFrameSize is the largest payload either side accepts in one frame.
	MaxFrameSize = 4 << 20
	// DataChunkSize is the payload size of the Data frames the client sends.
	DataChunkSize = 256 << 10
)

// ErrFrameTooLarge is returned when a frame header announces a payload larger
// than [MaxFrameSize] (or the smaller limit in force).
var ErrFrameTooLarge = errors.New("transport: frame too large")

// Frame is one decoded protocol frame.
type Frame struct {
	// Type says how to decode Payload.
	Type FrameType
	// Payload is the frame body, at most the limit passed to ReadFrame.
	Payload []byte
}

// readFrameHeader reads the five-byte frame header and checks the length
// against max without reading the payload.
func readFrameHeader(r io.Reader, max int) (FrameType, int, error) {
	var h [frameHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if uint64(n) > uint64(max) {
		return FrameType(h[0]), 0, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	return FrameType(h[0]), int(n), nil
}

// ReadFrame reads one frame whose payload is at most max bytes (values above
// MaxFrameSize or below zero mean MaxFrameSize). A stream that ends cleanly
// before the header returns io.EOF; one that ends inside a frame returns
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, max int) (Frame, error) {
	if max <= 0 || max > MaxFrameSize {
		max = MaxFrameSize
	}
	typ, n, err := readFrameHeader(r, max)
	if err != nil {
		return Frame{}, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	return Frame{Type: typ, Payload: p}, nil
}

// WriteFrame writes one frame. It refuses payloads above MaxFrameSize.
func WriteFrame(w io.Writer, typ FrameType, payload []byte) error {
	if len(payload) > MaxFrameSize {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	var h [frameHeaderSize]byte
	h[0] = byte(typ)
	binary.BigEndian.PutUint32(h[1:], uint32(len(payload)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	_, err := w.Write(payload)
	return err
}
