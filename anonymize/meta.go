package anonymize

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
)

// File meta information tags (group 0002).
const (
	tagMetaGroupLength  = Tag(0x00020000)
	tagMetaVersion      = Tag(0x00020001)
	tagMediaSOPClass    = Tag(0x00020002)
	tagMediaSOPInstance = Tag(0x00020003)
	tagTransferSyntax   = Tag(0x00020010)
	tagImplClassUID     = Tag(0x00020012)
	tagImplVersionName  = Tag(0x00020013)
	tagSourceAETitle    = Tag(0x00020016)
)

// Implementation identity written into every output's file meta.
const (
	implementationClassUID    = "2.25.154829216417838125327216190343458932297"
	implementationVersionName = "DICOMGATE_1"
)

// readPreamble consumes the preamble and file meta information, returning
// the meta elements (nil when the input has none) and the data set syntax.
func readPreamble(r *bufio.Reader) (*dataset, syntax, error) {
	head, err := r.Peek(132)
	if err == nil && string(head[128:132]) == "DICM" {
		if _, err := r.Discard(132); err != nil {
			return nil, syntax{}, quarantine(ErrMalformed, "truncated preamble")
		}
		return readMeta(r)
	}
	head, _ = r.Peek(8)
	if len(head) < 8 {
		return nil, syntax{}, quarantine(ErrMalformed, "file too short to be dicom")
	}
	if binary.LittleEndian.Uint16(head[0:2]) == 0x0002 {
		// Meta group without a preamble.
		return readMeta(r)
	}
	// A bare data set: guess its encoding from the first element.
	if bg := binary.BigEndian.Uint16(head[0:2]); (bg == 0x0008 || bg == 0x0002) && knownVR(string(head[4:6])) {
		return nil, syntax{uid: tsExplicitBE, explicit: true, bigEndian: true}, nil
	}
	g := binary.LittleEndian.Uint16(head[0:2])
	if g == 0 || g > 0x7FE0 && g != 0xFFFA && g != 0xFFFC {
		return nil, syntax{}, quarantine(ErrMalformed, "no dicom preamble and no recognisable data set")
	}
	if knownVR(string(head[4:6])) {
		return nil, syntax{uid: tsExplicitLE, explicit: true}, nil
	}
	return nil, syntax{uid: tsImplicitLE}, nil
}

// readMeta reads group 0002 (always explicit VR little endian).
func readMeta(r *bufio.Reader) (*dataset, syntax, error) {
	p := &parser{r: r, order: binary.LittleEndian, explicit: true}
	meta := &dataset{}
	for {
		b, err := r.Peek(2)
		if err != nil || binary.LittleEndian.Uint16(b) != 0x0002 {
			break
		}
		h, err := p.readHeader()
		if err != nil {
			return nil, syntax{}, quarantine(ErrMalformed, "bad file meta information")
		}
		if h.length == undefinedLength || h.vr == "SQ" {
			return nil, syntax{}, quarantine(ErrMalformed, "bad file meta element %s", h.tag)
		}
		v, err := p.readValue(h.tag, h.length)
		if err != nil {
			return nil, syntax{}, err
		}
		meta.elems = append(meta.elems, &element{tag: h.tag, vr: h.vr, value: v})
	}
	ts := meta.str(tagTransferSyntax)
	if ts == "" {
		return nil, syntax{}, quarantine(ErrMalformed, "file meta has no transfer syntax")
	}
	s, err := syntaxOf(ts)
	if err != nil {
		return nil, syntax{}, err
	}
	return meta, s, nil
}

// writeMeta writes the preamble and a rewritten file meta group: the SOP
// instance is the new one, the implementation is dicomgate, and application
// entity titles and private meta information are dropped.
func writeMeta(w io.Writer, in *dataset, s syntax, sopClass, sopInstance string) error {
	var body bytes.Buffer
	mw := &writer{w: bufio.NewWriter(&body), order: binary.LittleEndian, explicit: true}
	version := []byte{0, 1}
	if in != nil {
		if e := in.find(tagMetaVersion); e != nil && len(e.value) == 2 {
			version = e.value
		}
		if sopClass == "" {
			sopClass = in.str(tagMediaSOPClass)
		}
	}
	mw.element(&element{tag: tagMetaVersion, vr: "OB", value: version})
	mw.element(&element{tag: tagMediaSOPClass, vr: "UI", value: []byte(sopClass)})
	mw.element(&element{tag: tagMediaSOPInstance, vr: "UI", value: []byte(sopInstance)})
	mw.element(&element{tag: tagTransferSyntax, vr: "UI", value: []byte(s.uid)})
	mw.element(&element{tag: tagImplClassUID, vr: "UI", value: []byte(implementationClassUID)})
	mw.element(&element{tag: tagImplVersionName, vr: "SH", value: []byte(implementationVersionName)})
	if err := mw.flush(); err != nil {
		return err
	}
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	gw := &writer{w: bufio.NewWriter(&out), order: binary.LittleEndian, explicit: true}
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(body.Len()))
	gw.element(&element{tag: tagMetaGroupLength, vr: "UL", value: gl})
	if err := gw.flush(); err != nil {
		return err
	}
	out.Write(body.Bytes())
	_, err := w.Write(out.Bytes())
	return err
}
