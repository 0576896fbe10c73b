package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errStale marks a failure on a reused pooled connection before any answer,
// which Upload retries once on a fresh connection.
var errStale = errors.New("transport: pooled connection went stale")

// errLocalRead wraps failures to read the file being uploaded.
var errLocalRead = errors.New("transport: upload: read file")

// Upload sends one file: it offers it, skips what the relay already holds,
// streams the rest from body (read with ReadAt from the relay's offset to
// offer.Size) and returns the relay's receipt. An already committed file
// returns its receipt without sending data.
//
// A *RejectedError (errors.As) is a permanent refusal: quarantine the file.
// Any other error (network, context, relay unavailable) is retryable; the
// next attempt resumes from what the relay staged.
func (c *Conn) Upload(ctx context.Context, offer *Offer, body io.ReaderAt) (*Receipt, error) {
	if err := offer.Validate(); err != nil {
		return nil, &RejectedError{Code: CodeBadRequest, Message: "invalid offer"}
	}
	rec, err := c.uploadOnce(ctx, offer, body)
	if errors.Is(err, errStale) {
		rec, err = c.uploadOnce(ctx, offer, body)
	}
	return rec, err
}

func (c *Conn) uploadOnce(ctx context.Context, offer *Offer, body io.ReaderAt) (rec *Receipt, err error) {
	st, err := c.openStream(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, st.abort)
	ok := false
	defer func() {
		if !stop() {
			ok = false
			rec, err = nil, fmt.Errorf("transport: upload: %w", context.Cause(ctx))
		}
		st.finish(ok)
	}()

	if err := st.writeFrames(Frame{FrameHello, marshalHello()}, Frame{FrameOffer, offer.marshal()}); err != nil {
		return nil, c.staleOr(st, fmt.Errorf("transport: upload: send offer: %w", err))
	}
	f, err := ReadFrame(st.br, MaxFrameSize)
	if err != nil {
		return nil, c.staleOr(st, fmt.Errorf("transport: upload: read answer: %w", err))
	}
	switch f.Type {
	case FrameReceipt, FrameError:
		rec, err := c.final(f, offer)
		ok = err == nil || errors.As(err, new(*RejectedError)) || errors.Is(err, ErrRelayUnavailable)
		return rec, err
	case FrameOffset:
	default:
		return nil, errors.New("transport: upload: unexpected frame from relay")
	}
	have, err := unmarshalOffset(f.Payload)
	if err != nil || have < 0 || have > offer.Size {
		return nil, errors.New("transport: upload: relay sent an invalid offset")
	}
	if err := c.sendData(st, offer, body, have); err != nil {
		if errors.Is(err, errLocalRead) {
			st.abort()
			return nil, err
		}
		// The relay may have answered early (and stopped reading).
		if f, rerr := ReadFrame(st.br, MaxFrameSize); rerr == nil && f.Type == FrameError {
			return c.final(f, offer)
		}
		return nil, err
	}
	st.closeWrite()
	f, err = ReadFrame(st.br, MaxFrameSize)
	if err != nil {
		return nil, fmt.Errorf("transport: upload: read receipt: %w", err)
	}
	rec, err = c.final(f, offer)
	ok = err == nil || errors.As(err, new(*RejectedError)) || errors.Is(err, ErrRelayUnavailable)
	return rec, err
}

// staleOr turns err into errStale for reused pooled connections.
func (c *Conn) staleOr(st *clientStream, err error) error {
	if st.reused {
		return fmt.Errorf("%w: %w", errStale, err)
	}
	return err
}

// sendData streams body[have:Size] as Data frames, then Done.
func (c *Conn) sendData(st *clientStream, offer *Offer, body io.ReaderAt, have int64) error {
	buf := make([]byte, min(int64(DataChunkSize), max(offer.Size-have, 1)))
	for off := have; off < offer.Size; {
		n := int(min(int64(len(buf)), offer.Size-off))
		m, err := body.ReadAt(buf[:n], off)
		if m < n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%w: %w", errLocalRead, err)
		}
		if err := WriteFrame(st.bw, FrameData, buf[:n]); err != nil {
			return fmt.Errorf("transport: upload: send data: %w", err)
		}
		off += int64(n)
	}
	if err := st.writeFrames(Frame{Type: FrameDone}); err != nil {
		return fmt.Errorf("transport: upload: send data: %w", err)
	}
	return nil
}

// final decodes a Receipt or Error answer and checks the receipt.
func (c *Conn) final(f Frame, offer *Offer) (*Receipt, error) {
	switch f.Type {
	case FrameError:
		e, err := unmarshalError(f.Payload)
		if err != nil {
			return nil, fmt.Errorf("transport: upload: %w", err)
		}
		return nil, remoteError(e)
	case FrameReceipt:
		rec, err := unmarshalReceipt(f.Payload)
		if err != nil {
			return nil, err
		}
		if err := rec.matches(offer); err != nil {
			return nil, err
		}
		if c.cfg.ReceiptKey != nil {
			if err := rec.Verify(c.cfg.ReceiptKey); err != nil {
				return nil, err
			}
		}
		return rec, nil
	}
	return nil, errors.New("transport: upload: unexpected frame from relay")
}

// enrol runs one enrolment exchange.
func (c *Conn) enrol(ctx context.Context, req *EnrolRequest) (*EnrolResponse, error) {
	payload, err := req.marshal()
	if err != nil {
		return nil, err
	}
	p, err := c.roundTrip(ctx, "enrol", Frame{FrameEnrolRequest, payload}, FrameEnrolResponse)
	if err != nil {
		return nil, err
	}
	r, err := unmarshalEnrolResponse(p)
	if err != nil {
		return nil, fmt.Errorf("transport: enrol: %w", err)
	}
	return r, nil
}
