package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

var (
	// errNotConsumed is the handler error when Store returned nil before
	// reading the data set to its end.
	errNotConsumed = errors.New("dimse: handler returned before the end of the data set")
	// errReadAfterReturn is what the data set reader answers once its
	// handler has returned.
	errReadAfterReturn = errors.New("dimse: data set read after the handler returned")
)

// store receives the data set of a C-STORE-RQ: it calls the handler on
// this goroutine with a [dataSet] reader, reads what the handler left of
// the data set, and answers. An error means the association cannot go on
// (the data set never completed, or the response could not be sent).
func (a *scpAssoc) store(ctx context.Context, id byte, pc acceptedContext, cmd *command) error {
	start := time.Now()
	req := StoreRequest{CallingAE: a.callingAE, CalledAE: a.calledAE, RemoteAddr: a.remote,
		SOPClassUID: cmd.SOPClassUID, SOPInstanceUID: cmd.SOPInstanceUID, TransferSyntax: pc.syntax,
		MessageID: cmd.MessageID}
	var reject uint16
	switch {
	case !cmd.HasDataSet:
		a.log.Warn().Uint16("message_id", cmd.MessageID).Msg("dimse: c-store-rq without data set")
		return a.respond(req, id, 0, start, StatusCannotUnderstand, "no data set")
	case cmd.SOPClassUID != pc.abstract:
		a.log.Warn().Str("sop_class_uid", cmd.SOPClassUID).Str("context_abstract_syntax", pc.abstract).
			Msg("dimse: c-store sop class differs from its presentation context")
		reject = StatusCannotUnderstand
	case cmd.SOPInstanceUID == "":
		reject = StatusCannotUnderstand
	}
	ds := &dataSet{a: a, id: id}
	if reject != 0 {
		if err := ds.drain(); err != nil {
			return err
		}
		return a.respond(req, id, ds.n, start, reject, "instance not accepted")
	}
	err := a.callHandler(ctx, req, ds)
	ds.done = true
	if ds.err != nil {
		// The data set will never complete: no response, the
		// association ends (the handler saw ErrAborted).
		return ds.err
	}
	if err == nil && !ds.eof {
		err = errNotConsumed
	}
	if derr := ds.drain(); derr != nil {
		return derr
	}
	status, comment := statusFor(err)
	if err != nil {
		a.log.Warn().Err(err).Object("request", req).Uint16("status", status).Msg("dimse: c-store failed")
	} else {
		a.stored++
	}
	return a.respond(req, id, ds.n, start, status, comment)
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

// respond sends the C-STORE-RSP to req.
func (a *scpAssoc) respond(req StoreRequest, id byte, n int64, start time.Time, status uint16, comment string) error {
	a.log.Debug().Object("request", req).Int64("bytes", n).Uint16("status", status).
		Dur("duration", time.Since(start)).Msg("dimse: c-store")
	return a.c.sendCommand(id, &command{Field: cStoreRSP, RespondedTo: req.MessageID,
		SOPClassUID: req.SOPClassUID, SOPInstanceUID: req.SOPInstanceUID, Status: status,
		ErrorComment: comment})
}

// dataSet is the reader of one C-STORE data set handed to the handler: it
// pulls the data set's fragments from the association when the current one
// is used up, on the calling goroutine, and copies them out of the PDU
// reader's buffer. A fragment that breaks the protocol, an A-ABORT or a
// read error ends the association: the reader then answers [ErrAborted]
// (never io.EOF, so that the handler cannot take a cut data set for a
// whole one) and keeps the cause in err for the association.
type dataSet struct {
	a    *scpAssoc
	id   byte   // presentation context of the data set
	cur  []byte // rest of the current fragment
	last bool   // cur is the data set's last fragment
	eof  bool   // io.EOF was returned: the handler consumed the data set
	done bool   // the handler returned: reads fail
	err  error  // why the data set cannot complete
	n    int64  // bytes received
}

// Read implements io.Reader.
func (d *dataSet) Read(p []byte) (int, error) {
	if err := d.fill(); err != nil {
		return 0, err
	}
	k := copy(p, d.cur)
	d.cur = d.cur[k:]
	if len(d.cur) == 0 && d.last {
		d.eof = true
		return k, io.EOF
	}
	return k, nil
}

// WriteTo implements io.WriterTo: the fragments go to w without another
// copy.
func (d *dataSet) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		err := d.fill()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		k, err := w.Write(d.cur)
		n += int64(k)
		d.cur = d.cur[k:]
		if err != nil {
			return n, err
		}
		if len(d.cur) == 0 && d.last {
			d.eof = true
			return n, nil
		}
	}
}

// fill makes cur non-empty, fetching fragments as needed; it returns
// io.EOF at the end of the data set and ErrAborted once it cannot
// complete.
func (d *dataSet) fill() error {
	if d.done {
		return errReadAfterReturn
	}
	for len(d.cur) == 0 {
		switch {
		case d.err != nil:
			return ErrAborted
		case d.last:
			d.eof = true
			return io.EOF
		}
		d.fetch()
	}
	return nil
}

// fetch takes the next fragment of the data set from the association, or
// records in err why there is none.
func (d *dataSet) fetch() {
	v, p, err := d.a.next()
	if err == nil && p != nil {
		switch p := p.(type) {
		case *Abort:
			err = &peerAbortError{source: p.Source, reason: p.Reason}
		case *ReleaseRQ:
			err = fmt.Errorf("%w: a-release-rq during a message", ErrUnexpectedPDU)
		default:
			err = fmt.Errorf("%w: type 0x%02x", ErrUnexpectedPDU, p.Type())
		}
	}
	if err == nil {
		err = d.check(v)
	}
	if err != nil {
		d.err = err
		return
	}
	d.cur, d.last = v.Data, v.Last
	d.n += int64(len(v.Data))
}

// check reports whether v may be the next fragment of the data set.
func (d *dataSet) check(v PDV) error {
	switch {
	case v.ContextID != d.id && !d.a.accepted(v.ContextID):
		return fmt.Errorf("%w: pdv on presentation context %d, not accepted", ErrMalformedPDU, v.ContextID)
	case v.Command:
		return fmt.Errorf("%w: command fragment while a data set is arriving", ErrUnexpectedPDU)
	case v.ContextID != d.id:
		return fmt.Errorf("%w: data set fragment on context %d, command on %d", ErrUnexpectedPDU, v.ContextID, d.id)
	}
	return nil
}

// drain discards the rest of the data set (what a handler that failed, or
// a rejected instance, left unread). It returns the error that ends the
// association, if any.
func (d *dataSet) drain() error {
	for d.err == nil && !d.last {
		d.fetch()
	}
	d.cur = nil
	return d.err
}

// accepted reports whether presentation context id was accepted.
func (a *scpAssoc) accepted(id byte) bool {
	_, ok := a.contexts[id]
	return ok
}
