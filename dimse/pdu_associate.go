package dimse

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// AssociateRQ is the A-ASSOCIATE-RQ PDU.
type AssociateRQ struct {
	// ProtocolVersion is bit 0 set: 1.
	ProtocolVersion uint16
	// CalledAE and CallingAE are the AE titles, without padding.
	CalledAE, CallingAE string
	// AppContext is the application context name (ApplicationContextUID).
	AppContext string
	// Contexts are the proposed presentation contexts.
	Contexts []ProposedContext
	// User is the user information item.
	User UserInfo
}

// AssociateAC is the A-ASSOCIATE-AC PDU.
type AssociateAC struct {
	// ProtocolVersion is 1.
	ProtocolVersion uint16
	// CalledAE and CallingAE echo the request.
	CalledAE, CallingAE string
	// AppContext is the application context name.
	AppContext string
	// Contexts are the answers, one per proposed context.
	Contexts []ContextResult
	// User is the user information item.
	User UserInfo
}

// ProposedContext is a presentation context item of an A-ASSOCIATE-RQ.
type ProposedContext struct {
	// ID is odd, 1 to 255.
	ID byte
	// AbstractSyntax is the SOP class UID.
	AbstractSyntax string
	// TransferSyntaxes are proposed in order of preference.
	TransferSyntaxes []string
}

// ContextResult is a presentation context item of an A-ASSOCIATE-AC.
type ContextResult struct {
	// ID echoes the proposed context.
	ID byte
	// Result is 0 (acceptance) or a rejection reason (1 to 4).
	Result byte
	// TransferSyntax is the accepted syntax; meaningless on rejection.
	TransferSyntax string
}

// UserInfo is the user information item (PS3.7 annex D, PS3.8 annex D).
type UserInfo struct {
	// MaxPDULength is the largest P-DATA-TF the sender accepts; 0 = no limit.
	MaxPDULength uint32
	// ImplementationClassUID and ImplementationVersion identify the peer.
	ImplementationClassUID, ImplementationVersion string
}

// Type implements [PDU].
func (*AssociateRQ) Type() byte { return pduAssociateRQ }

// Type implements [PDU].
func (*AssociateAC) Type() byte { return pduAssociateAC }

// item is one variable item (or sub-item) of an association PDU.
type item struct {
	typ  byte
	body []byte
}

// splitItems cuts b into items with 2-byte big-endian lengths.
func splitItems(b []byte) ([]item, error) {
	var out []item
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: truncated item header", ErrMalformedPDU)
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n > len(b)-4 {
			return nil, fmt.Errorf("%w: item 0x%02x length %d exceeds pdu", ErrMalformedPDU, b[0], n)
		}
		out = append(out, item{typ: b[0], body: b[4 : 4+n]})
		b = b[4+n:]
	}
	return out, nil
}

// uidString trims the padding of a UID field and bounds its length.
func uidString(b []byte) (string, error) {
	s := strings.TrimRight(string(b), "\x00 ")
	if len(s) > maxUID {
		return "", fmt.Errorf("%w: uid of %d bytes", ErrMalformedPDU, len(s))
	}
	return s, nil
}

// aeString trims the padding of a 16-byte AE title field.
func aeString(b []byte) string { return strings.Trim(string(b), " \x00") }

// associateHeader parses the fixed part shared by -RQ and -AC.
func associateHeader(body []byte) (version uint16, called, calling string, items []item, err error) {
	if len(body) < 68 {
		return 0, "", "", nil, fmt.Errorf("%w: associate pdu of %d bytes", ErrMalformedPDU, len(body))
	}
	version = binary.BigEndian.Uint16(body)
	called, calling = aeString(body[4:20]), aeString(body[20:36])
	items, err = splitItems(body[68:])
	return
}

// parseAssociateRQ decodes an A-ASSOCIATE-RQ body.
func parseAssociateRQ(body []byte) (*AssociateRQ, error) {
	v, called, calling, items, err := associateHeader(body)
	if err != nil {
		return nil, err
	}
	rq := &AssociateRQ{ProtocolVersion: v, CalledAE: called, CallingAE: calling}
	for _, it := range items {
		switch it.typ {
		case itemAppContext:
			if rq.AppContext, err = uidString(it.body); err != nil {
				return nil, err
			}
		case itemPresContextRQ:
			pc, err := parseProposedContext(it.body)
			if err != nil {
				return nil, err
			}
			rq.Contexts = append(rq.Contexts, pc)
		case itemUserInfo:
			if rq.User, err = parseUserInfo(it.body); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: unexpected item 0x%02x in a-associate-rq", ErrMalformedPDU, it.typ)
		}
	}
	if rq.AppContext == "" {
		return nil, fmt.Errorf("%w: a-associate-rq without application context", ErrMalformedPDU)
	}
	return rq, nil
}

// parseProposedContext decodes a presentation context item (0x20).
func parseProposedContext(b []byte) (ProposedContext, error) {
	if len(b) < 4 {
		return ProposedContext{}, fmt.Errorf("%w: short presentation context", ErrMalformedPDU)
	}
	pc := ProposedContext{ID: b[0]}
	subs, err := splitItems(b[4:])
	if err != nil {
		return pc, err
	}
	for _, s := range subs {
		u, err := uidString(s.body)
		if err != nil {
			return pc, err
		}
		switch s.typ {
		case itemAbstractSyntax:
			pc.AbstractSyntax = u
		case itemTransferSyntax:
			pc.TransferSyntaxes = append(pc.TransferSyntaxes, u)
		default:
			return pc, fmt.Errorf("%w: unexpected sub-item 0x%02x in presentation context", ErrMalformedPDU, s.typ)
		}
	}
	return pc, nil
}

// parseAssociateAC decodes an A-ASSOCIATE-AC body.
func parseAssociateAC(body []byte) (*AssociateAC, error) {
	v, called, calling, items, err := associateHeader(body)
	if err != nil {
		return nil, err
	}
	ac := &AssociateAC{ProtocolVersion: v, CalledAE: called, CallingAE: calling}
	for _, it := range items {
		switch it.typ {
		case itemAppContext:
			if ac.AppContext, err = uidString(it.body); err != nil {
				return nil, err
			}
		case itemPresContextAC:
			if len(it.body) < 4 {
				return nil, fmt.Errorf("%w: short presentation context result", ErrMalformedPDU)
			}
			cr := ContextResult{ID: it.body[0], Result: it.body[2]}
			subs, err := splitItems(it.body[4:])
			if err != nil {
				return nil, err
			}
			for _, s := range subs {
				if s.typ == itemTransferSyntax {
					if cr.TransferSyntax, err = uidString(s.body); err != nil {
						return nil, err
					}
				}
			}
			ac.Contexts = append(ac.Contexts, cr)
		case itemUserInfo:
			if ac.User, err = parseUserInfo(it.body); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: unexpected item 0x%02x in a-associate-ac", ErrMalformedPDU, it.typ)
		}
	}
	return ac, nil
}

// parseUserInfo decodes the user information sub-items we use and skips
// the others (role selection, asynchronous window, extended negotiation).
func parseUserInfo(b []byte) (UserInfo, error) {
	var u UserInfo
	subs, err := splitItems(b)
	if err != nil {
		return u, err
	}
	for _, s := range subs {
		switch s.typ {
		case itemMaxLength:
			if len(s.body) != 4 {
				return u, fmt.Errorf("%w: maximum length sub-item of %d bytes", ErrMalformedPDU, len(s.body))
			}
			u.MaxPDULength = binary.BigEndian.Uint32(s.body)
		case itemImplClassUID:
			if u.ImplementationClassUID, err = uidString(s.body); err != nil {
				return u, err
			}
		case itemImplVersion:
			if len(s.body) > 16 {
				return u, fmt.Errorf("%w: implementation version of %d bytes", ErrMalformedPDU, len(s.body))
			}
			u.ImplementationVersion = strings.TrimRight(string(s.body), " \x00")
		}
	}
	return u, nil
}

// appendItem appends an item with a 2-byte length.
func appendItem(dst []byte, typ byte, body []byte) []byte {
	dst = append(dst, typ, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(body)))
	return append(dst, body...)
}

// appendAE appends an AE title padded to 16 bytes.
func appendAE(dst []byte, ae string) ([]byte, error) {
	if len(ae) > maxAETitle {
		return nil, fmt.Errorf("dimse: ae title longer than 16 bytes")
	}
	dst = append(dst, ae...)
	for range maxAETitle - len(ae) {
		dst = append(dst, ' ')
	}
	return dst, nil
}

// appendAssociateHeader appends the fixed part shared by -RQ and -AC.
func appendAssociateHeader(dst []byte, version uint16, called, calling, appCtx string) ([]byte, error) {
	if version == 0 {
		version = 1
	}
	dst = binary.BigEndian.AppendUint16(dst, version)
	dst = append(dst, 0, 0)
	var err error
	if dst, err = appendAE(dst, called); err != nil {
		return nil, err
	}
	if dst, err = appendAE(dst, calling); err != nil {
		return nil, err
	}
	dst = append(dst, make([]byte, 32)...)
	if appCtx == "" {
		appCtx = ApplicationContextUID
	}
	return appendItem(dst, itemAppContext, []byte(appCtx)), nil
}

// appendUserInfo appends the user information item.
func appendUserInfo(dst []byte, u UserInfo) []byte {
	var b []byte
	b = appendItem(b, itemMaxLength, binary.BigEndian.AppendUint32(nil, u.MaxPDULength))
	if u.ImplementationClassUID != "" {
		b = appendItem(b, itemImplClassUID, []byte(u.ImplementationClassUID))
	}
	if u.ImplementationVersion != "" {
		b = appendItem(b, itemImplVersion, []byte(u.ImplementationVersion))
	}
	return appendItem(dst, itemUserInfo, b)
}

// appendBody appends the body of the A-ASSOCIATE-RQ.
func (rq *AssociateRQ) appendBody(dst []byte) ([]byte, error) {
	dst, err := appendAssociateHeader(dst, rq.ProtocolVersion, rq.CalledAE, rq.CallingAE, rq.AppContext)
	if err != nil {
		return nil, err
	}
	for _, pc := range rq.Contexts {
		b := []byte{pc.ID, 0, 0, 0}
		b = appendItem(b, itemAbstractSyntax, []byte(pc.AbstractSyntax))
		for _, ts := range pc.TransferSyntaxes {
			b = appendItem(b, itemTransferSyntax, []byte(ts))
		}
		dst = appendItem(dst, itemPresContextRQ, b)
	}
	return appendUserInfo(dst, rq.User), nil
}

// appendBody appends the body of the A-ASSOCIATE-AC.
func (ac *AssociateAC) appendBody(dst []byte) ([]byte, error) {
	dst, err := appendAssociateHeader(dst, ac.ProtocolVersion, ac.CalledAE, ac.CallingAE, ac.AppContext)
	if err != nil {
		return nil, err
	}
	for _, cr := range ac.Contexts {
		b := []byte{cr.ID, 0, cr.Result, 0}
		ts := cr.TransferSyntax
		if cr.Result != pcAccepted {
			ts = ""
		}
		b = appendItem(b, itemTransferSyntax, []byte(ts))
		dst = appendItem(dst, itemPresContextAC, b)
	}
	return appendUserInfo(dst, ac.User), nil
}
