package anonymize

import (
	"encoding/binary"
	"strings"
)

// Transfer syntax UIDs the engine reads and writes.
const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsDeflatedLE = "1.2.840.10008.1.2.1.99"
	tsExplicitBE = "1.2.840.10008.1.2.2"
)

// syntax is how a data set is encoded.
type syntax struct {
	uid       string
	explicit  bool
	bigEndian bool
	deflated  bool
}

func (s syntax) order() binary.ByteOrder {
	if s.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// syntaxOf maps a transfer syntax UID to its encoding. Encapsulated
// (compressed) syntaxes use explicit VR little endian for the data set; their
// pixel data is passed through untouched.
func syntaxOf(uid string) (syntax, error) {
	switch uid {
	case tsImplicitLE:
		return syntax{uid: uid}, nil
	case tsExplicitLE:
		return syntax{uid: uid, explicit: true}, nil
	case tsExplicitBE:
		return syntax{uid: uid, explicit: true, bigEndian: true}, nil
	case tsDeflatedLE:
		return syntax{uid: uid, explicit: true, deflated: true}, nil
	}
	// JPEG family (1.2.840.10008.1.2.4.x), RLE (1.2.840.10008.1.2.5),
	// encapsulated uncompressed (1.2.840.10008.1.2.1.98), MPEG/HEVC, JPEG 2000
	// and HTJ2K all live under 1.2.840.10008.1.2.4 or are listed here.
	if strings.HasPrefix(uid, "1.2.840.10008.1.2.4.") || uid == "1.2.840.10008.1.2.5" || uid == "1.2.840.10008.1.2.1.98" {
		return syntax{uid: uid, explicit: true}, nil
	}
	// Name the UID only when it is a well-formed standard one: anything
	// else came from the file and is not repeated in messages.
	if isStandardUID(uid) && len(uid) <= 64 && strings.Trim(uid, "0123456789.") == "" {
		return syntax{}, quarantine(ErrUnsupported, "transfer syntax %s", uid)
	}
	return syntax{}, quarantine(ErrUnsupported, "unrecognised transfer syntax")
}
