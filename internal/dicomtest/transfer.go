package dicomtest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
)

// Transfer syntax UIDs the generator writes.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
	RLELossless                    = "1.2.840.10008.1.2.5"
	JPEGBaseline8Bit               = "1.2.840.10008.1.2.4.50"
)

// Identity of this generator in the file meta information.
const (
	implementationClassUID = "2.25.300154929611201929180374447151326409631"
	implementationVersion  = "DICOMTEST_1"
)

// AllTransferSyntaxes returns the syntaxes [CorpusOptions] rotates through by
// default. JPEGBaseline8Bit is not among them: only the JPEG-labelled
// Secondary Capture uses it.
func AllTransferSyntaxes() []string {
	return []string{
		ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
		DeflatedExplicitVRLittleEndian, RLELossless,
	}
}

// encapsulated reports whether ts carries pixel data in fragments.
func encapsulated(ts string) bool { return ts == RLELossless || ts == JPEGBaseline8Bit }

// knownSyntax reports whether the encoder can write ts.
func knownSyntax(ts string) bool {
	switch ts {
	case ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
		ExplicitVRBigEndian, RLELossless, JPEGBaseline8Bit:
		return true
	}
	return false
}

// encodeFile returns a Part 10 file: preamble, "DICM", the file meta group
// (explicit VR little endian) and the data set in syntax ts. ds must hold
// SOPClassUID and SOPInstanceUID; sourceAE may be empty.
func encodeFile(ds *dataset, ts, sourceAE string) ([]byte, error) {
	if !knownSyntax(ts) {
		return nil, fmt.Errorf("dicomtest: unsupported transfer syntax %s", ts)
	}
	cls, inst := ds.get(0x00080016), ds.get(0x00080018)
	if cls == nil || inst == nil {
		return nil, fmt.Errorf("dicomtest: data set without SOP class or instance UID")
	}
	meta := &dataset{}
	meta.set(element{tag: 0x00020001, vr: "OB", raw: []byte{0, 1}})
	meta.set(element{tag: 0x00020002, vr: "UI", str: cls.str})
	meta.set(element{tag: 0x00020003, vr: "UI", str: inst.str})
	meta.set(element{tag: 0x00020010, vr: "UI", str: ts})
	meta.set(element{tag: 0x00020012, vr: "UI", str: implementationClassUID})
	meta.set(element{tag: 0x00020013, vr: "SH", str: implementationVersion})
	if sourceAE != "" {
		meta.set(element{tag: 0x00020016, vr: "AE", str: sourceAE})
	}
	me := encoder{explicit: true, order: binary.LittleEndian}
	if err := me.dataset(meta); err != nil {
		return nil, fmt.Errorf("dicomtest: meta: %w", err)
	}
	out := make([]byte, 128, 128+4+12+len(me.buf))
	out = append(out, "DICM"...)
	gl := encoder{buf: out, explicit: true, order: binary.LittleEndian}
	gl.header(0x00020000, "UL", 4)
	gl.u32(uint32(len(me.buf)))
	out = append(gl.buf, me.buf...)

	body := encoder{explicit: ts != ImplicitVRLittleEndian, order: binary.LittleEndian}
	if ts == ExplicitVRBigEndian {
		body.order = binary.BigEndian
	}
	if ts != DeflatedExplicitVRLittleEndian {
		body.buf = out
		if err := body.dataset(ds); err != nil {
			return nil, fmt.Errorf("dicomtest: data set: %w", err)
		}
		return body.buf, nil
	}
	if err := body.dataset(ds); err != nil {
		return nil, fmt.Errorf("dicomtest: data set: %w", err)
	}
	var z bytes.Buffer
	z.Write(out)
	fw, err := flate.NewWriter(&z, flate.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("dicomtest: deflate: %w", err)
	}
	if _, err := fw.Write(body.buf); err != nil {
		return nil, fmt.Errorf("dicomtest: deflate: %w", err)
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("dicomtest: deflate: %w", err)
	}
	return z.Bytes(), nil
}
