package transport

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// ProtocolVersion is the version of the upload protocol sent in every Hello.
const ProtocolVersion = 1

// helloMagic starts every Hello payload.
var helloMagic = [4]byte{'D', 'G', 'T', 'P'}

// maxIDLen bounds Offer.ID and other identifiers on the wire.
const maxIDLen = 256

// Offer announces one file the agent wants to upload.
type Offer struct {
	// ID is the agent's stable identifier for the file (e.g. the sealed file
	// name). It must not contain PHI. 1..256 bytes of UTF-8.
	ID string
	// Size is the length of the sealed file in bytes.
	Size int64
	// SHA256 is the digest of the sealed file's bytes.
	SHA256 [32]byte
	// Manifest is the opaque signed manifest envelope; the relay verifies it.
	Manifest []byte
}

// Validate reports whether the offer is well formed.
func (o *Offer) Validate() error {
	switch {
	case o == nil:
		return fmt.Errorf("transport: nil offer: %w", errMalformed)
	case o.ID == "" || len(o.ID) > maxIDLen || !utf8.ValidString(o.ID):
		return fmt.Errorf("transport: offer id must be 1..%d bytes of utf-8: %w", maxIDLen, errMalformed)
	case o.Size < 0:
		return fmt.Errorf("transport: negative offer size: %w", errMalformed)
	}
	return nil
}

func (o *Offer) marshal() []byte {
	b := appendString(nil, o.ID)
	b = appendUint64(b, uint64(o.Size))
	b = append(b, o.SHA256[:]...)
	return appendBytes(b, o.Manifest)
}

func unmarshalOffer(p []byte) (*Offer, error) {
	d := decoder{b: p}
	o := &Offer{ID: d.string(), Size: int64(d.uint64())}
	copy(o.SHA256[:], d.fixed(32))
	o.Manifest = bytes.Clone(d.bytes())
	if err := d.finish(); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

func marshalHello() []byte {
	b := append([]byte(nil), helloMagic[:]...)
	return append(b, 0, ProtocolVersion)
}

// parseHello returns the version announced by a Hello payload.
func parseHello(p []byte) (uint16, error) {
	d := decoder{b: p}
	if !bytes.Equal(d.fixed(4), helloMagic[:]) {
		return 0, errMalformed
	}
	v := d.uint16()
	return v, d.finish()
}

func marshalOffset(have int64) []byte { return appendUint64(nil, uint64(have)) }

func unmarshalOffset(p []byte) (int64, error) {
	d := decoder{b: p}
	v := int64(d.uint64())
	if err := d.finish(); err != nil {
		return 0, err
	}
	return v, nil
}

func marshalError(e *RejectedError) []byte {
	return appendString(appendString(nil, e.Code), e.Message)
}

func unmarshalError(p []byte) (*RejectedError, error) {
	d := decoder{b: p}
	e := &RejectedError{Code: d.string(), Message: d.string()}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return e, nil
}
