package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// errNotConsumed is the handler error when Store returned nil before
// reading the data set to its end.
var errNotConsumed = errors.New("dimse: handler returned before the end of the data set")

// inbound is one C-STORE data set being streamed to the handler.
type inbound struct {
	contextID byte
	req       StoreRequest
	reject    uint16 // non-zero: no handler, discard the data set, answer this
	pw        *io.PipeWriter
	done      chan error
	cancel    context.CancelFunc
	dead      bool // the handler returned early: discard the rest
	n         int64
	start     time.Time
}

// startStore begins receiving the data set of a C-STORE-RQ.
func (a *scpAssoc) startStore(ctx context.Context, id byte, pc acceptedContext, cmd *command) error {
	req := StoreRequest{CallingAE: a.callingAE, CalledAE: a.calledAE, RemoteAddr: a.remote,
		SOPClassUID: cmd.SOPClassUID, SOPInstanceUID: cmd.SOPInstanceUID, TransferSyntax: pc.syntax,
		MessageID: cmd.MessageID}
	in := &inbound{contextID: id, req: req, start: time.Now()}
	switch {
	case !cmd.HasDataSet:
		a.log.Warn().Uint16("message_id", cmd.MessageID).Msg("dimse: c-store-rq without data set")
		return a.respond(in, StatusCannotUnderstand, "no data set")
	case cmd.SOPClassUID != pc.abstract:
		a.log.Warn().Str("sop_class_uid", cmd.SOPClassUID).Str("context_abstract_syntax", pc.abstract).
			Msg("dimse: c-store sop class differs from its presentation context")
		in.reject = StatusCannotUnderstand
	case cmd.SOPInstanceUID == "":
		in.reject = StatusCannotUnderstand
	}
	a.store = in
	if in.reject != 0 {
		return nil
	}
	pr, pw := io.Pipe()
	hctx, cancel := context.WithCancel(ctx)
	in.pw, in.cancel, in.done = pw, cancel, make(chan error, 1)
	go func() {
		r := &eofReader{r: pr}
		err := a.callHandler(hctx, req, r)
		if err == nil && !r.eof {
			err = errNotConsumed
		}
		_ = pr.CloseWithError(errNotConsumed)
		in.done <- err
	}()
	return nil
}

// callHandler runs the handler, turning a panic into an error so that one
// bad instance cannot stop the server.
func (a *scpAssoc) callHandler(ctx context.Context, req StoreRequest, r io.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dimse: handler panic: %v", p)
		}
	}()
	return a.s.Handler.Store(ctx, req, r)
}

// write passes one data set fragment to the handler.
func (in *inbound) write(p []byte) error {
	in.n += int64(len(p))
	if in.reject != 0 || in.dead {
		return nil
	}
	if _, err := in.pw.Write(p); err != nil {
		in.dead = true // the handler has returned; its result is in done
	}
	return nil
}

// abort ends the stream with err and waits for the handler to return.
func (in *inbound) abort(err error) {
	if in.pw == nil {
		return
	}
	_ = in.pw.CloseWithError(err)
	in.cancel()
	<-in.done
}

// finishStore completes the data set, waits for the handler and answers.
func (a *scpAssoc) finishStore() error {
	in := a.store
	a.store = nil
	if in.reject != 0 {
		return a.respond(in, in.reject, "instance not accepted")
	}
	_ = in.pw.Close()
	err := <-in.done
	in.cancel()
	status, comment := statusFor(err)
	if err != nil {
		a.log.Warn().Err(err).Object("request", in.req).Uint16("status", status).Msg("dimse: c-store failed")
	} else {
		a.stored++
	}
	return a.respond(in, status, comment)
}

// respond sends the C-STORE-RSP for in.
func (a *scpAssoc) respond(in *inbound, status uint16, comment string) error {
	a.log.Debug().Object("request", in.req).Int64("bytes", in.n).Uint16("status", status).
		Dur("duration", time.Since(in.start)).Msg("dimse: c-store")
	return a.c.sendCommand(in.contextID, &command{Field: cStoreRSP, RespondedTo: in.req.MessageID,
		SOPClassUID: in.req.SOPClassUID, SOPInstanceUID: in.req.SOPInstanceUID, Status: status,
		ErrorComment: comment})
}

// eofReader records whether its reader reached io.EOF.
type eofReader struct {
	r   io.Reader
	eof bool
}

// Read implements io.Reader.
func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.eof = true
	}
	return n, err
}
