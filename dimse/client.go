package dimse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
)

// ErrNoContext is returned by [Association.Store] when no accepted
// presentation context matches the file's SOP class and transfer syntax.
var ErrNoContext = errors.New("dimse: no accepted presentation context")

// RejectedError is returned by [Dial] when the peer rejects the
// association (A-ASSOCIATE-RJ).
type RejectedError struct {
	// Result, Source and Reason are the fields of the A-ASSOCIATE-RJ.
	Result, Source, Reason byte
}

// Error implements error.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("dimse: association rejected (result %d, source %d, reason %d: %s)",
		e.Result, e.Source, e.Reason, rejectReason(&AssociateRJ{Result: e.Result, Source: e.Source, Reason: e.Reason}))
}

// Presentation is one abstract syntax / transfer syntax pair an SCU
// proposes, each in a presentation context of its own so that the peer
// can accept them one by one.
type Presentation struct {
	// SOPClassUID is the abstract syntax.
	SOPClassUID string
	// TransferSyntax is the transfer syntax.
	TransferSyntax string
}

// Dialer opens associations as an SCU. The zero value is ready to use.
type Dialer struct {
	// Presentations are proposed besides Verification. Default: the common
	// storage SOP classes in explicit and implicit VR little endian. Files
	// in other syntaxes need their pair listed (see [ReadFileMeta]); at
	// most 127 contexts are proposed.
	Presentations []Presentation
	// MaxPDU is the maximum P-DATA-TF length we accept. Default DefaultMaxPDU.
	MaxPDU uint32
	// Logger is the zero value (silent) unless set.
	Logger zerolog.Logger
}

// Association is an established association on the SCU side. Its methods
// must not be called concurrently.
type Association struct {
	c        *conn
	log      zerolog.Logger
	contexts map[byte]acceptedContext
	msgID    uint16
	closed   bool
}

// Dial opens an association with the zero [Dialer].
func Dial(ctx context.Context, addr, callingAE, calledAE string) (*Association, error) {
	var d Dialer
	return d.Dial(ctx, addr, callingAE, calledAE)
}

// Dial connects to addr and negotiates an association from callingAE to
// calledAE. A rejection is returned as a *[RejectedError].
func (d *Dialer) Dial(ctx context.Context, addr, callingAE, calledAE string) (*Association, error) {
	if len(callingAE) > maxAETitle || len(calledAE) > maxAETitle || callingAE == "" || calledAE == "" {
		return nil, errors.New("dimse: ae titles must be 1 to 16 characters")
	}
	maxPDU := d.MaxPDU
	if maxPDU == 0 {
		maxPDU = DefaultMaxPDU
	}
	maxPDU = min(max(maxPDU, MinMaxPDU), MaxMaxPDU)
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dimse: dial: %w", err)
	}
	log := d.Logger.With().Str("remote", addr).Str("called_ae", calledAE).Logger()
	a := &Association{c: newConn(nc, maxPDU), log: log, contexts: map[byte]acceptedContext{}}
	stop := a.watch(ctx)
	defer stop()
	rq := &AssociateRQ{ProtocolVersion: 1, CalledAE: calledAE, CallingAE: callingAE, AppContext: ApplicationContextUID,
		User: UserInfo{MaxPDULength: maxPDU, ImplementationClassUID: ImplementationClassUID,
			ImplementationVersion: ImplementationVersionName}}
	proposed := map[byte]ProposedContext{}
	add := func(class string, syntaxes ...string) {
		if len(rq.Contexts) >= 127 {
			return
		}
		pc := ProposedContext{ID: byte(2*len(rq.Contexts) + 1), AbstractSyntax: class, TransferSyntaxes: syntaxes}
		rq.Contexts = append(rq.Contexts, pc)
		proposed[pc.ID] = pc
	}
	add(VerificationSOPClass, ExplicitVRLittleEndian, ImplicitVRLittleEndian)
	pres := d.Presentations
	if len(pres) == 0 {
		for _, c := range commonStorageClasses() {
			pres = append(pres, Presentation{c, ExplicitVRLittleEndian}, Presentation{c, ImplicitVRLittleEndian})
		}
	}
	seen := map[Presentation]bool{}
	for _, p := range pres {
		if !seen[p] {
			seen[p] = true
			add(p.SOPClassUID, p.TransferSyntax)
		}
	}
	if err := a.c.write(rq); err != nil {
		_ = nc.Close()
		return nil, ctxErr(ctx, err)
	}
	p, err := a.c.read(0)
	if err != nil {
		_ = nc.Close()
		return nil, ctxErr(ctx, fmt.Errorf("dimse: read association answer: %w", err))
	}
	switch p := p.(type) {
	case *AssociateAC:
		for _, r := range p.Contexts {
			if pc, ok := proposed[r.ID]; ok && r.Result == pcAccepted {
				a.contexts[r.ID] = acceptedContext{abstract: pc.AbstractSyntax, syntax: r.TransferSyntax}
			}
		}
		a.c.setPeerMax(p.User.MaxPDULength)
		log.Debug().Int("contexts_accepted", len(a.contexts)).Uint32("peer_max_pdu", a.c.peerMax).Msg("dimse: association accepted")
		return a, nil
	case *AssociateRJ:
		_ = nc.Close()
		return nil, &RejectedError{Result: p.Result, Source: p.Source, Reason: p.Reason}
	case *Abort:
		_ = nc.Close()
		return nil, fmt.Errorf("%w during association (source %d, reason %d)", ErrAborted, p.Source, p.Reason)
	}
	a.Abort()
	return nil, fmt.Errorf("%w: type 0x%02x in answer to a-associate-rq", ErrUnexpectedPDU, p.Type())
}

// watch makes the connection's I/O fail once ctx is done; call the
// returned function when the operation ends.
func (a *Association) watch(ctx context.Context) func() {
	if d, ok := ctx.Deadline(); ok {
		_ = a.c.nc.SetDeadline(d)
	} else {
		_ = a.c.nc.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = a.c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

// ctxErr prefers the context's error when it caused err.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// CanStore reports whether a presentation context for the SOP class and
// transfer syntax was accepted.
func (a *Association) CanStore(sopClass, syntax string) bool {
	_, ok := a.contextFor(sopClass, syntax)
	return ok
}

// contextFor finds the accepted context for a pair.
func (a *Association) contextFor(abstract, syntax string) (byte, bool) {
	best, found := byte(0), false
	for id, pc := range a.contexts {
		if pc.abstract == abstract && pc.syntax == syntax && (!found || id < best) {
			best, found = id, true
		}
	}
	return best, found
}

// Echo sends a C-ECHO-RQ and waits for a success response.
func (a *Association) Echo(ctx context.Context) error {
	id, ok := a.contextFor(VerificationSOPClass, ExplicitVRLittleEndian)
	if !ok {
		if id, ok = a.contextFor(VerificationSOPClass, ImplicitVRLittleEndian); !ok {
			return fmt.Errorf("%w for verification", ErrNoContext)
		}
	}
	stop := a.watch(ctx)
	defer stop()
	a.msgID++
	if err := a.c.sendCommand(id, &command{Field: cEchoRQ, MessageID: a.msgID, SOPClassUID: VerificationSOPClass}); err != nil {
		return ctxErr(ctx, err)
	}
	rsp, err := a.response(ctx, cEchoRSP)
	if err != nil {
		return err
	}
	if rsp.Status != StatusSuccess {
		return &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return nil
}

// response reads PDUs until the response command to the last request.
func (a *Association) response(ctx context.Context, field uint16) (*command, error) {
	var buf []byte
	for {
		p, err := a.c.read(0)
		if err != nil {
			a.closeConn()
			return nil, ctxErr(ctx, fmt.Errorf("dimse: read response: %w", err))
		}
		switch p := p.(type) {
		case *PDataTF:
			for _, v := range p.Items {
				if !v.Command {
					a.Abort()
					return nil, fmt.Errorf("%w: data set fragment in a response", ErrUnexpectedPDU)
				}
				if len(buf)+len(v.Data) > maxCommandSet {
					a.Abort()
					return nil, fmt.Errorf("%w: response command too long", ErrMalformedPDU)
				}
				buf = append(buf, v.Data...)
				if !v.Last {
					continue
				}
				cmd, err := decodeCommand(buf)
				if err != nil {
					a.Abort()
					return nil, err
				}
				if cmd.Field != field || cmd.RespondedTo != a.msgID {
					a.Abort()
					return nil, fmt.Errorf("%w: response 0x%04x to message %d, want 0x%04x to %d",
						ErrUnexpectedPDU, cmd.Field, cmd.RespondedTo, field, a.msgID)
				}
				return cmd, nil
			}
		case *Abort:
			a.closeConn()
			return nil, fmt.Errorf("%w by peer (source %d, reason %d)", ErrAborted, p.Source, p.Reason)
		default:
			a.Abort()
			return nil, fmt.Errorf("%w: type 0x%02x while waiting for a response", ErrUnexpectedPDU, p.Type())
		}
	}
}

// Release ends the association gracefully (A-RELEASE-RQ, -RP) and closes
// the connection.
func (a *Association) Release(ctx context.Context) error {
	if a.closed {
		return nil
	}
	stop := a.watch(ctx)
	defer stop()
	defer a.closeConn()
	if err := a.c.write(&ReleaseRQ{}); err != nil {
		return ctxErr(ctx, err)
	}
	for {
		p, err := a.c.read(0)
		if err != nil {
			return ctxErr(ctx, fmt.Errorf("dimse: read release answer: %w", err))
		}
		switch p := p.(type) {
		case *ReleaseRP:
			return nil
		case *Abort:
			return fmt.Errorf("%w during release (source %d, reason %d)", ErrAborted, p.Source, p.Reason)
		case *PDataTF:
			continue // late data is dropped
		default:
			return fmt.Errorf("%w: type 0x%02x in answer to a-release-rq", ErrUnexpectedPDU, p.Type())
		}
	}
}

// Abort sends an A-ABORT and closes the connection.
func (a *Association) Abort() {
	if a.closed {
		return
	}
	a.closed = true
	a.c.abort(abortSourceUser, abortReasonNone)
}

// closeConn closes the connection without a PDU.
func (a *Association) closeConn() {
	a.closed = true
	_ = a.c.nc.Close()
}

// commonStorageClasses lists the storage SOP classes proposed by default.
func commonStorageClasses() []string {
	return []string{
		"1.2.840.10008.5.1.4.1.1.1",     // CR
		"1.2.840.10008.5.1.4.1.1.1.1",   // DX for presentation
		"1.2.840.10008.5.1.4.1.1.1.1.1", // DX for processing
		"1.2.840.10008.5.1.4.1.1.1.2",   // MG for presentation
		"1.2.840.10008.5.1.4.1.1.2",     // CT
		"1.2.840.10008.5.1.4.1.1.2.1",   // Enhanced CT
		"1.2.840.10008.5.1.4.1.1.3.1",   // US multi-frame
		"1.2.840.10008.5.1.4.1.1.4",     // MR
		"1.2.840.10008.5.1.4.1.1.4.1",   // Enhanced MR
		"1.2.840.10008.5.1.4.1.1.6.1",   // US
		"1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture
		"1.2.840.10008.5.1.4.1.1.11.1",  // Grayscale Softcopy PS
		"1.2.840.10008.5.1.4.1.1.12.1",  // XA
		"1.2.840.10008.5.1.4.1.1.20",    // NM
		"1.2.840.10008.5.1.4.1.1.66.4",  // Segmentation
		"1.2.840.10008.5.1.4.1.1.88.11", // Basic Text SR
		"1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR
		"1.2.840.10008.5.1.4.1.1.88.33", // Comprehensive SR
		"1.2.840.10008.5.1.4.1.1.88.59", // Key Object Selection
		"1.2.840.10008.5.1.4.1.1.104.1", // Encapsulated PDF
		"1.2.840.10008.5.1.4.1.1.128",   // PET
		"1.2.840.10008.5.1.4.1.1.481.1", // RT Image
		"1.2.840.10008.5.1.4.1.1.481.2", // RT Dose
		"1.2.840.10008.5.1.4.1.1.481.3", // RT Structure Set
		"1.2.840.10008.5.1.4.1.1.481.5", // RT Plan
	}
}
