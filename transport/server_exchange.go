package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
)

// exchangeState says what is left on the stream after an exchange.
type exchangeState int

const (
	exchangeClean  exchangeState = iota // every frame of the exchange was read
	exchangeDrain                       // answered early; Data frames may follow until Done
	exchangeBroken                      // the stream is out of sync or dead
)

// exchangeResult is the outcome of one exchange.
type exchangeResult struct {
	state exchangeState
	data  *dataReader // set with exchangeDrain
}

var (
	rejInternal    = &RejectedError{Code: CodeInternal, Message: "internal error"}
	rejBadRequest  = &RejectedError{Code: CodeBadRequest, Message: "malformed or unexpected frame"}
	rejTooLarge    = &RejectedError{Code: CodeFrameTooLarge, Message: "frame exceeds the size limit"}
	rejVersion     = &RejectedError{Code: CodeUnsupportedVersion, Message: "unsupported protocol version"}
	rejUnauth      = &RejectedError{Code: CodeUnauthenticated, Message: "upload requires an enrolled agent certificate"}
	rejSize        = &RejectedError{Code: CodeSizeMismatch, Message: "byte count does not match the offer"}
	rejEnrolFailed = &RejectedError{Code: CodeEnrolmentRefused, Message: "enrolment refused"}
	rejEnrolOnly   = &RejectedError{Code: CodeUnavailable, Message: "this address serves enrolment only: uploads and renewals go through the relay's wireguard tunnel"}
)

// exchange serves one request: Hello, then an Offer (upload) or an
// EnrolRequest.
func (s *Server) exchange(ctx context.Context, peer Peer, r *bufio.Reader, w *bufio.Writer) exchangeResult {
	broken := exchangeResult{state: exchangeBroken}
	f, err := ReadFrame(r, MaxFrameSize)
	if err != nil {
		s.replyReadError(w, err)
		return broken
	}
	if f.Type != FrameHello {
		s.reply(w, FrameError, marshalError(rejBadRequest))
		return broken
	}
	if v, err := parseHello(f.Payload); err != nil || v != ProtocolVersion {
		s.reply(w, FrameError, marshalError(rejVersion))
		return broken
	}
	f, err = ReadFrame(r, MaxFrameSize)
	if err != nil {
		s.replyReadError(w, err)
		return broken
	}
	if s.cfg.EnrolOnly && (f.Type == FrameOffer || f.Type == FrameRenewRequest) {
		s.reply(w, FrameError, marshalError(rejEnrolOnly))
		return exchangeResult{state: exchangeClean}
	}
	switch f.Type {
	case FrameOffer:
		return s.upload(ctx, peer, f.Payload, r, w)
	case FrameEnrolRequest:
		s.enrol(ctx, peer, f.Payload, w)
		return exchangeResult{state: exchangeClean}
	case FrameClock:
		s.clock(ctx, peer, f.Payload, w)
		return exchangeResult{state: exchangeClean}
	case FrameRenewRequest:
		s.renew(ctx, peer, f.Payload, w)
		return exchangeResult{state: exchangeClean}
	}
	s.reply(w, FrameError, marshalError(rejBadRequest))
	return broken
}

// upload serves an Offer: Begin, Offset, Data…Done, Write, Receipt.
func (s *Server) upload(ctx context.Context, peer Peer, payload []byte, r *bufio.Reader, w *bufio.Writer) exchangeResult {
	clean := exchangeResult{state: exchangeClean}
	if peer.AgentID == "" {
		s.reply(w, FrameError, marshalError(rejUnauth))
		return clean
	}
	offer, err := unmarshalOffer(payload)
	if err != nil {
		s.reply(w, FrameError, marshalError(rejBadRequest))
		return clean
	}
	log := s.log.With().Str("agent_id", peer.AgentID).Str("file_id", offer.ID).Str("proto", string(peer.Protocol)).Logger()
	up, done, err := s.cfg.Handler.Begin(ctx, peer, offer)
	switch {
	case err != nil:
		s.reply(w, FrameError, marshalError(s.rejection(err)))
		return clean
	case done != nil:
		log.Debug().Msg("already committed")
		s.reply(w, FrameReceipt, done.marshal())
		return clean
	case up == nil:
		log.Error().Msg("handler returned neither upload, receipt nor error")
		s.reply(w, FrameError, marshalError(rejInternal))
		return clean
	}
	have := up.Offset()
	if have < 0 || have > offer.Size {
		log.Error().Int64("have", have).Msg("handler returned an offset outside the file")
		s.reply(w, FrameError, marshalError(rejInternal))
		return clean
	}
	if !s.reply(w, FrameOffset, marshalOffset(have)) {
		return exchangeResult{state: exchangeBroken}
	}
	dr := &dataReader{r: r, remaining: offer.Size - have}
	rec, err := up.Write(ctx, dr)
	switch {
	case dr.reject != nil:
		log.Debug().Str("code", dr.reject.Code).Msg("upload refused")
		s.reply(w, FrameError, marshalError(dr.reject))
		return exchangeResult{state: exchangeBroken}
	case dr.err != nil:
		log.Debug().Msg("upload stream cut")
		s.reply(w, FrameError, marshalError(rejInternal))
		return exchangeResult{state: exchangeBroken}
	case err != nil:
		s.reply(w, FrameError, marshalError(s.rejection(err)))
	case rec == nil:
		log.Error().Msg("handler returned neither receipt nor error")
		s.reply(w, FrameError, marshalError(rejInternal))
	default:
		log.Debug().Int64("offset", have).Msg("upload committed")
		s.reply(w, FrameReceipt, rec.marshal())
	}
	if dr.done {
		return clean
	}
	return exchangeResult{state: exchangeDrain, data: dr}
}

// enrol serves an EnrolRequest.
func (s *Server) enrol(ctx context.Context, peer Peer, payload []byte, w *bufio.Writer) {
	req, err := unmarshalEnrolRequest(payload)
	if err != nil {
		s.log.Debug().Str("proto", string(peer.Protocol)).Msg("enrolment request refused")
		s.reply(w, FrameError, marshalError(rejEnrolFailed))
		return
	}
	resp, err := s.cfg.Handler.Enrol(ctx, req)
	if err != nil {
		s.reply(w, FrameError, marshalError(s.rejection(err)))
		return
	}
	if resp == nil {
		s.reply(w, FrameError, marshalError(rejInternal))
		return
	}
	s.log.Info().Str("agent_id", resp.AgentID).Msg("agent enrolled")
	s.reply(w, FrameEnrolResponse, resp.marshal())
}

// rejection maps a handler error to what the agent is told: the handler's
// own *RejectedError, or a generic internal error (details stay in the log).
func (s *Server) rejection(err error) *RejectedError {
	var rej *RejectedError
	if errors.As(err, &rej) {
		return rej
	}
	s.log.Warn().Err(err).Msg("handler failed")
	return rejInternal
}

// replyReadError answers a failed frame read when the peer may still listen.
func (s *Server) replyReadError(w *bufio.Writer, err error) {
	if errors.Is(err, ErrFrameTooLarge) {
		s.reply(w, FrameError, marshalError(rejTooLarge))
	}
}

// reply writes and flushes one frame; it reports success.
func (s *Server) reply(w *bufio.Writer, typ FrameType, payload []byte) bool {
	if err := WriteFrame(w, typ, payload); err != nil {
		return false
	}
	return w.Flush() == nil
}

// dataReader yields the bytes of the Data frames up to Done, enforcing the
// offered size. It is the io.Reader passed to Upload.Write.
type dataReader struct {
	r         *bufio.Reader
	remaining int64 // bytes still expected before Done
	frameLeft int   // bytes left in the current Data frame
	done      bool  // Done frame read with the exact byte count
	err       error // sticky failure
	reject    *RejectedError
}

// Read implements io.Reader.
func (d *dataReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.done {
		return 0, io.EOF
	}
	for d.frameLeft == 0 {
		typ, n, err := readFrameHeader(d.r, MaxFrameSize)
		switch {
		case errors.Is(err, ErrFrameTooLarge):
			return 0, d.refuse(rejTooLarge)
		case err != nil:
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			d.err = fmt.Errorf("transport: upload stream: %w", err)
			return 0, d.err
		case typ == FrameData:
			if int64(n) > d.remaining {
				return 0, d.refuse(rejSize)
			}
			d.frameLeft = n
		case typ == FrameDone:
			if n != 0 {
				return 0, d.refuse(rejBadRequest)
			}
			if d.remaining != 0 {
				return 0, d.refuse(rejSize)
			}
			d.done = true
			return 0, io.EOF
		default:
			return 0, d.refuse(rejBadRequest)
		}
	}
	if len(p) > d.frameLeft {
		p = p[:d.frameLeft]
	}
	n, err := d.r.Read(p)
	d.frameLeft -= n
	d.remaining -= int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = fmt.Errorf("transport: upload stream: %w", err)
		return n, d.err
	}
	return n, nil
}

func (d *dataReader) refuse(rej *RejectedError) error {
	d.reject = rej
	d.err = fmt.Errorf("transport: upload refused: %w", rej)
	return d.err
}

// drain discards the rest of the upload up to Done, so the connection can
// carry another exchange.
func (d *dataReader) drain() error {
	if _, err := io.Copy(io.Discard, d); err != nil {
		return err
	}
	if !d.done {
		return io.ErrUnexpectedEOF
	}
	return nil
}
