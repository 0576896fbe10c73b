package dimse

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/rs/zerolog"
)

// serveConn runs one association on nc: establishment, then the DIMSE
// loop, then release or abort. Every exit path closes nc.
func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		// Responses are small and the sender waits for each one: no
		// Nagle delay (Go's default, made explicit).
		_ = tc.SetNoDelay(true)
	}
	log := s.Logger.With().Str("remote", nc.RemoteAddr().String()).Logger()
	c := newConn(nc, s.maxPDU())
	p, err := c.read(DefaultAssociateTimeout)
	if err != nil {
		abortOnError(c, log, "association request", err)
		return
	}
	rq, ok := p.(*AssociateRQ)
	if !ok {
		log.Warn().Uint8("pdu_type", p.Type()).Msg("dimse: expected a-associate-rq, aborting")
		c.abort(abortSourceProvider, abortUnexpected)
		return
	}
	log = log.With().Str("calling_ae", rq.CallingAE).Str("called_ae", rq.CalledAE).Logger()
	if rj := s.admit(rq); rj != nil {
		log.Warn().Uint8("result", rj.Result).Uint8("source", rj.Source).Uint8("reason", rj.Reason).
			Str("why", rejectReason(rj)).Msg("dimse: association rejected")
		_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = c.write(rj)
		// Give the peer a moment to read the rejection and close first.
		_ = nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, 1<<16))
		return
	}
	ac := &AssociateAC{CalledAE: rq.CalledAE, CallingAE: rq.CallingAE, AppContext: ApplicationContextUID,
		User: UserInfo{MaxPDULength: s.maxPDU(), ImplementationClassUID: ImplementationClassUID,
			ImplementationVersion: ImplementationVersionName}}
	a := &scpAssoc{s: s, c: c, log: log, callingAE: rq.CallingAE, calledAE: rq.CalledAE,
		remote: nc.RemoteAddr().String(), contexts: map[byte]acceptedContext{}}
	for _, pc := range rq.Contexts {
		r := negotiateContext(pc)
		ac.Contexts = append(ac.Contexts, r)
		if r.Result == pcAccepted {
			a.contexts[pc.ID] = acceptedContext{abstract: pc.AbstractSyntax, syntax: r.TransferSyntax}
		}
		log.Debug().Uint8("context_id", pc.ID).Str("abstract_syntax", pc.AbstractSyntax).
			Uint8("result", r.Result).Str("transfer_syntax", r.TransferSyntax).Msg("dimse: presentation context")
	}
	c.setPeerMax(rq.User.MaxPDULength)
	c.writeTimeout = s.idle()
	if err := c.write(ac); err != nil {
		log.Warn().Err(err).Msg("dimse: send a-associate-ac")
		return
	}
	log.Info().Int("contexts_proposed", len(rq.Contexts)).Int("contexts_accepted", len(a.contexts)).
		Uint32("peer_max_pdu", c.peerMax).Msg("dimse: association accepted")
	a.run(ctx)
}

// admit checks the request against the server's configuration and returns
// the rejection to send, or nil.
func (s *Server) admit(rq *AssociateRQ) *AssociateRJ {
	switch {
	case rq.ProtocolVersion&1 == 0:
		return &AssociateRJ{Result: rjPermanent, Source: rjSourceACSE, Reason: rjReasonProtocolVersion}
	case rq.AppContext != ApplicationContextUID:
		return &AssociateRJ{Result: rjPermanent, Source: rjSourceUser, Reason: rjReasonAppContext}
	case s.AETitle != "" && rq.CalledAE != s.AETitle:
		return &AssociateRJ{Result: rjPermanent, Source: rjSourceUser, Reason: rjReasonCalledAE}
	case !s.callingAllowed(rq.CallingAE):
		return &AssociateRJ{Result: rjPermanent, Source: rjSourceUser, Reason: rjReasonCallingAE}
	case s.liveAssociations() > s.maxAssociations():
		return &AssociateRJ{Result: rjTransient, Source: rjSourcePresentation, Reason: 2}
	}
	return nil
}

// maxAssociations returns the association limit with its default.
func (s *Server) maxAssociations() int {
	if s.MaxAssociations > 0 {
		return s.MaxAssociations
	}
	return 32
}

// rejectReason names a rejection for the log.
func rejectReason(rj *AssociateRJ) string {
	switch {
	case rj.Source == rjSourceUser && rj.Reason == rjReasonCallingAE:
		return "calling ae title not allowed"
	case rj.Source == rjSourceUser && rj.Reason == rjReasonCalledAE:
		return "called ae title not recognized"
	case rj.Source == rjSourceUser && rj.Reason == rjReasonAppContext:
		return "application context not supported"
	case rj.Source == rjSourceACSE:
		return "protocol version not supported"
	case rj.Source == rjSourcePresentation:
		return "too many associations"
	}
	return "no reason given"
}

// abortOnError logs why an association ends on a read error and aborts it
// when the error is a protocol violation or a timeout.
func abortOnError(c *conn, log zerolog.Logger, during string, err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		log.Info().Str("during", during).Msg("dimse: connection closed by peer")
		_ = c.nc.Close()
	case errors.Is(err, io.ErrUnexpectedEOF):
		log.Warn().Err(err).Str("during", during).Msg("dimse: truncated pdu, aborting association")
		c.abort(abortSourceProvider, abortReasonNone)
	case errors.Is(err, ErrUnknownPDU):
		log.Warn().Err(err).Str("during", during).Msg("dimse: unknown pdu type, aborting association")
		c.abort(abortSourceProvider, abortUnrecognized)
	case errors.Is(err, ErrPDUTooLarge):
		log.Warn().Err(err).Str("during", during).Msg("dimse: oversized pdu, aborting association")
		c.abort(abortSourceProvider, abortInvalidParam)
	case errors.Is(err, ErrMalformedPDU):
		log.Warn().Err(err).Str("during", during).Msg("dimse: malformed pdu, aborting association")
		c.abort(abortSourceProvider, abortInvalidParam)
	case errors.Is(err, ErrUnexpectedPDU):
		log.Warn().Err(err).Str("during", during).Msg("dimse: unexpected pdu, aborting association")
		c.abort(abortSourceProvider, abortUnexpected)
	case isTimeout(err):
		log.Warn().Str("during", during).Msg("dimse: timeout, aborting association")
		c.abort(abortSourceProvider, abortReasonNone)
	default:
		log.Warn().Err(err).Str("during", during).Msg("dimse: connection error, aborting association")
		c.abort(abortSourceProvider, abortReasonNone)
	}
}
