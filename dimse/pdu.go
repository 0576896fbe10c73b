package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PDU is one protocol data unit of the upper layer (PS3.8 section 9.3):
// *[AssociateRQ], *[AssociateAC], *[AssociateRJ], *[PDataTF],
// *[ReleaseRQ], *[ReleaseRP] or *[Abort].
type PDU interface {
	// Type returns the PDU type byte.
	Type() byte
}

// ReleaseRQ is the A-RELEASE-RQ PDU.
type ReleaseRQ struct{}

// ReleaseRP is the A-RELEASE-RP PDU.
type ReleaseRP struct{}

// Abort is the A-ABORT PDU.
type Abort struct {
	// Source is 0 (service user) or 2 (service provider).
	Source byte
	// Reason is meaningful when Source is 2 (PS3.8 table 9-26).
	Reason byte
}

// AssociateRJ is the A-ASSOCIATE-RJ PDU.
type AssociateRJ struct {
	// Result is 1 (permanent) or 2 (transient).
	Result byte
	// Source is 1 (service user), 2 (ACSE provider) or 3 (presentation).
	Source byte
	// Reason depends on Source (PS3.8 table 9-21).
	Reason byte
}

// PDataTF is the P-DATA-TF PDU: one or more presentation data values.
type PDataTF struct {
	// Items are the PDVs, in order.
	Items []PDV
}

// PDV is one presentation data value item of a P-DATA-TF PDU.
type PDV struct {
	// ContextID is the presentation context the fragment belongs to.
	ContextID byte
	// Command is set for command fragments, clear for data set fragments.
	Command bool
	// Last is set on the last fragment of a command or data set.
	Last bool
	// Data is the fragment. When read, it aliases the reader's buffer.
	Data []byte
}

// Type implements [PDU].
func (*ReleaseRQ) Type() byte { return pduReleaseRQ }

// Type implements [PDU].
func (*ReleaseRP) Type() byte { return pduReleaseRP }

// Type implements [PDU].
func (*Abort) Type() byte { return pduAbort }

// Type implements [PDU].
func (*AssociateRJ) Type() byte { return pduAssociateRJ }

// Type implements [PDU].
func (*PDataTF) Type() byte { return pduPDataTF }

var (
	// ErrUnknownPDU is returned for a PDU type that PS3.8 does not define.
	ErrUnknownPDU = errors.New("dimse: unknown pdu type")
	// ErrPDUTooLarge is returned for a PDU longer than the limit in force.
	ErrPDUTooLarge = errors.New("dimse: pdu too large")
	// ErrMalformedPDU is returned for a PDU whose content does not parse.
	ErrMalformedPDU = errors.New("dimse: malformed pdu")
)

// Limits are the largest PDU lengths (the length field) a reader accepts.
type Limits struct {
	// PData bounds P-DATA-TF PDUs: the maximum length we announced.
	PData uint32
	// Associate bounds A-ASSOCIATE-RQ/AC PDUs. Zero means MaxAssociatePDU.
	Associate uint32
}

// pduReader reads PDUs from a stream, reusing one buffer and one
// [PDataTF], so that the memory it holds is bounded by the limits and
// receiving a data set allocates nothing per PDU.
type pduReader struct {
	r     io.Reader
	lim   Limits
	buf   []byte
	hdr   [6]byte
	pdata PDataTF // the last P-DATA-TF returned; its Items are reused
}

// newPDUReader returns a reader of r enforcing lim.
func newPDUReader(r io.Reader, lim Limits) *pduReader {
	if lim.Associate == 0 {
		lim.Associate = MaxAssociatePDU
	}
	if lim.PData == 0 {
		lim.PData = DefaultMaxPDU
	}
	return &pduReader{r: r, lim: lim}
}

// ReadPDU reads one PDU from r with the given limits. Returned PDVs own
// their data. It never panics on hostile input; errors wrap
// [ErrUnknownPDU], [ErrPDUTooLarge], [ErrMalformedPDU] or the read error.
func ReadPDU(r io.Reader, lim Limits) (PDU, error) {
	p, err := newPDUReader(r, lim).next()
	if err != nil {
		return nil, err
	}
	if pd, ok := p.(*PDataTF); ok {
		for i := range pd.Items {
			pd.Items[i].Data = append([]byte(nil), pd.Items[i].Data...)
		}
	}
	return p, nil
}

// next reads one PDU. A *PDataTF, its Items and their data belong to the
// reader and are valid until the next call.
func (pr *pduReader) next() (PDU, error) {
	if _, err := io.ReadFull(pr.r, pr.hdr[:]); err != nil {
		return nil, err
	}
	typ := pr.hdr[0]
	n := binary.BigEndian.Uint32(pr.hdr[2:])
	var limit uint32
	switch typ {
	case pduAssociateRQ, pduAssociateAC:
		limit = pr.lim.Associate
	case pduPDataTF:
		limit = pr.lim.PData
	case pduAssociateRJ, pduReleaseRQ, pduReleaseRP, pduAbort:
		if n != 4 {
			return nil, fmt.Errorf("%w: type 0x%02x with length %d, want 4", ErrMalformedPDU, typ, n)
		}
		limit = 4
	default:
		return nil, fmt.Errorf("%w 0x%02x (length %d)", ErrUnknownPDU, typ, n)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: type 0x%02x length %d exceeds %d", ErrPDUTooLarge, typ, n, limit)
	}
	if cap(pr.buf) < int(n) {
		pr.buf = make([]byte, n)
	}
	body := pr.buf[:n]
	if _, err := io.ReadFull(pr.r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("dimse: read pdu type 0x%02x: %w", typ, err)
	}
	if typ == pduPDataTF {
		if err := parsePData(&pr.pdata, body); err != nil {
			return nil, err
		}
		return &pr.pdata, nil
	}
	return parsePDU(typ, body)
}

// parsePDU decodes the body of a PDU of type typ.
func parsePDU(typ byte, body []byte) (PDU, error) {
	switch typ {
	case pduAssociateRQ:
		return parseAssociateRQ(body)
	case pduAssociateAC:
		return parseAssociateAC(body)
	case pduAssociateRJ:
		return &AssociateRJ{Result: body[1], Source: body[2], Reason: body[3]}, nil
	case pduReleaseRQ:
		return &ReleaseRQ{}, nil
	case pduReleaseRP:
		return &ReleaseRP{}, nil
	case pduAbort:
		return &Abort{Source: body[2], Reason: body[3]}, nil
	case pduPDataTF:
		p := &PDataTF{}
		if err := parsePData(p, body); err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w 0x%02x", ErrUnknownPDU, typ)
}

// parsePData splits a P-DATA-TF body into the PDVs of p (aliasing body),
// reusing p.Items.
func parsePData(p *PDataTF, body []byte) error {
	p.Items = p.Items[:0]
	for len(body) > 0 {
		if len(body) < 6 {
			return fmt.Errorf("%w: truncated pdv header", ErrMalformedPDU)
		}
		n := binary.BigEndian.Uint32(body)
		if n < 2 || uint64(n) > uint64(len(body)-4) {
			return fmt.Errorf("%w: pdv length %d out of range", ErrMalformedPDU, n)
		}
		ctxID, mch := body[4], body[5]
		if ctxID%2 == 0 {
			return fmt.Errorf("%w: even presentation context id %d", ErrMalformedPDU, ctxID)
		}
		p.Items = append(p.Items, PDV{ContextID: ctxID, Command: mch&1 != 0, Last: mch&2 != 0, Data: body[6 : 4+n]})
		body = body[4+n:]
	}
	if len(p.Items) == 0 {
		return fmt.Errorf("%w: p-data-tf without pdv", ErrMalformedPDU)
	}
	return nil
}

// encode appends the wire form of p to dst.
func encodePDU(dst []byte, p PDU) ([]byte, error) {
	start := len(dst)
	dst = append(dst, p.Type(), 0, 0, 0, 0, 0)
	switch v := p.(type) {
	case *ReleaseRQ, *ReleaseRP:
		dst = append(dst, 0, 0, 0, 0)
	case *Abort:
		dst = append(dst, 0, 0, v.Source, v.Reason)
	case *AssociateRJ:
		dst = append(dst, 0, v.Result, v.Source, v.Reason)
	case *PDataTF:
		for _, it := range v.Items {
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(it.Data)+2))
			var mch byte
			if it.Command {
				mch |= 1
			}
			if it.Last {
				mch |= 2
			}
			dst = append(dst, it.ContextID, mch)
			dst = append(dst, it.Data...)
		}
	case *AssociateRQ:
		var err error
		if dst, err = v.appendBody(dst); err != nil {
			return nil, err
		}
	case *AssociateAC:
		var err error
		if dst, err = v.appendBody(dst); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("dimse: encode pdu: unsupported type %T", p)
	}
	binary.BigEndian.PutUint32(dst[start+2:], uint32(len(dst)-start-6))
	return dst, nil
}

// WritePDU writes p to w in one Write call.
func WritePDU(w io.Writer, p PDU) error {
	b, err := encodePDU(nil, p)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("dimse: write pdu type 0x%02x: %w", p.Type(), err)
	}
	return nil
}

var (
	_ PDU = (*ReleaseRQ)(nil)
	_ PDU = (*ReleaseRP)(nil)
	_ PDU = (*Abort)(nil)
	_ PDU = (*AssociateRJ)(nil)
	_ PDU = (*PDataTF)(nil)
	_ PDU = (*AssociateRQ)(nil)
	_ PDU = (*AssociateAC)(nil)
)
