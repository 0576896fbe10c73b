package dimse

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotPart10 is returned by [ReadFileMeta] for input that is not a DICOM
// Part 10 file (no "DICM" after the preamble, or no file meta group).
var ErrNotPart10 = errors.New("dimse: not a dicom part 10 file")

// maxMetaGroup bounds the file meta group ReadFileMeta accepts.
const maxMetaGroup = 64 * 1024

// FileMeta is the part of the file meta information (group 0002) this
// package reads and writes.
type FileMeta struct {
	// MediaStorageSOPClassUID (0002,0002).
	MediaStorageSOPClassUID string
	// MediaStorageSOPInstanceUID (0002,0003).
	MediaStorageSOPInstanceUID string
	// TransferSyntaxUID (0002,0010): the encoding of the data set.
	TransferSyntaxUID string
	// ImplementationClassUID (0002,0012).
	ImplementationClassUID string
	// ImplementationVersionName (0002,0013).
	ImplementationVersionName string
	// SourceApplicationEntityTitle (0002,0016).
	SourceApplicationEntityTitle string
}

// WritePart10 writes a DICOM Part 10 file: the 128-byte preamble, "DICM",
// the file meta group (explicit VR little endian: version 00\01, the SOP
// class and instance of req's command set, the negotiated transfer syntax,
// our implementation class UID and version, the calling AE as source AE
// title) and then the data set copied unchanged from dataset. It returns
// the bytes written.
func WritePart10(w io.Writer, req StoreRequest, dataset io.Reader) (int64, error) {
	meta, err := Part10Header(req)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(meta)
	if err != nil {
		return int64(n), fmt.Errorf("dimse: write part 10 header: %w", err)
	}
	m, err := io.Copy(w, dataset)
	if err != nil {
		return int64(n) + m, fmt.Errorf("dimse: write part 10 data set: %w", err)
	}
	return int64(n) + m, nil
}

// Part10Header returns what [WritePart10] writes before the data set of
// req: the preamble, "DICM" and the file meta group.
func Part10Header(req StoreRequest) ([]byte, error) {
	return EncodeFileMeta(FileMeta{
		MediaStorageSOPClassUID: req.SOPClassUID, MediaStorageSOPInstanceUID: req.SOPInstanceUID,
		TransferSyntaxUID: req.TransferSyntax, ImplementationClassUID: ImplementationClassUID,
		ImplementationVersionName: ImplementationVersionName, SourceApplicationEntityTitle: req.CallingAE,
	})
}

// EncodeFileMeta returns the preamble, "DICM" and the file meta group for m.
// The three UIDs are required.
func EncodeFileMeta(m FileMeta) ([]byte, error) {
	if m.MediaStorageSOPClassUID == "" || m.MediaStorageSOPInstanceUID == "" || m.TransferSyntaxUID == "" {
		return nil, errors.New("dimse: file meta needs sop class, sop instance and transfer syntax uids")
	}
	var g []byte
	g = appendMeta(g, 0x0001, "OB", []byte{0, 1})
	g = appendMeta(g, 0x0002, "UI", uidBytes(m.MediaStorageSOPClassUID))
	g = appendMeta(g, 0x0003, "UI", uidBytes(m.MediaStorageSOPInstanceUID))
	g = appendMeta(g, 0x0010, "UI", uidBytes(m.TransferSyntaxUID))
	if m.ImplementationClassUID != "" {
		g = appendMeta(g, 0x0012, "UI", uidBytes(m.ImplementationClassUID))
	}
	if m.ImplementationVersionName != "" {
		g = appendMeta(g, 0x0013, "SH", padded(m.ImplementationVersionName))
	}
	if m.SourceApplicationEntityTitle != "" {
		g = appendMeta(g, 0x0016, "AE", padded(m.SourceApplicationEntityTitle))
	}
	out := make([]byte, 128, 128+4+12+len(g))
	out = append(out, "DICM"...)
	out = appendMeta(out, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(g))))
	return append(out, g...), nil
}

// uidBytes pads a UID to even length with NUL.
func uidBytes(s string) []byte {
	if len(s)%2 == 1 {
		return append([]byte(s), 0)
	}
	return []byte(s)
}

// padded pads a string value to even length with a space.
func padded(s string) []byte {
	if len(s)%2 == 1 {
		return append([]byte(s), ' ')
	}
	return []byte(s)
}

// longVR reports whether vr has a 4-byte length in explicit VR encoding.
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// appendMeta appends one explicit VR little endian element of group 0002.
func appendMeta(dst []byte, elem uint16, vr string, v []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, 0x0002)
	dst = binary.LittleEndian.AppendUint16(dst, elem)
	dst = append(dst, vr...)
	if longVR(vr) {
		dst = append(dst, 0, 0)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
	} else {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(v)))
	}
	return append(dst, v...)
}

// ReadFileMeta reads the preamble, "DICM" and the file meta group from r,
// leaving r at the first byte of the data set. It accepts a meta group with
// or without its group length, up to 64 KiB.
func ReadFileMeta(r *bufio.Reader) (FileMeta, error) {
	var m FileMeta
	head := make([]byte, 132)
	if _, err := io.ReadFull(r, head); err != nil {
		return m, fmt.Errorf("%w: %w", ErrNotPart10, err)
	}
	if string(head[128:]) != "DICM" {
		return m, ErrNotPart10
	}
	total := 0
	for {
		peek, err := r.Peek(2)
		if err != nil || binary.LittleEndian.Uint16(peek) != 0x0002 {
			break // end of the meta group (or of an empty data set)
		}
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return m, fmt.Errorf("%w: truncated file meta: %w", ErrNotPart10, err)
		}
		elem, vr := binary.LittleEndian.Uint16(h[2:]), string(h[4:6])
		n := int(binary.LittleEndian.Uint16(h[6:]))
		if longVR(vr) {
			var l [4]byte
			if _, err := io.ReadFull(r, l[:]); err != nil {
				return m, fmt.Errorf("%w: truncated file meta: %w", ErrNotPart10, err)
			}
			n = int(binary.LittleEndian.Uint32(l[:]))
		}
		total += 12 + n
		if n > maxMetaGroup || total > maxMetaGroup {
			return m, fmt.Errorf("%w: file meta group larger than %d bytes", ErrNotPart10, maxMetaGroup)
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(r, v); err != nil {
			return m, fmt.Errorf("%w: truncated file meta: %w", ErrNotPart10, err)
		}
		s := strings.TrimRight(string(v), "\x00 ")
		switch elem {
		case 0x0002:
			m.MediaStorageSOPClassUID = s
		case 0x0003:
			m.MediaStorageSOPInstanceUID = s
		case 0x0010:
			m.TransferSyntaxUID = s
		case 0x0012:
			m.ImplementationClassUID = s
		case 0x0013:
			m.ImplementationVersionName = s
		case 0x0016:
			m.SourceApplicationEntityTitle = s
		}
	}
	if m.TransferSyntaxUID == "" || m.MediaStorageSOPClassUID == "" || m.MediaStorageSOPInstanceUID == "" {
		return m, fmt.Errorf("%w: file meta without sop class, sop instance or transfer syntax", ErrNotPart10)
	}
	return m, nil
}
