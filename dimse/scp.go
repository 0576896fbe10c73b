package dimse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// acceptedContext is a presentation context the SCP accepted.
type acceptedContext struct {
	abstract, syntax string
}

// scpAssoc is the SCP side of one established association. Only its run
// goroutine touches it: the C-STORE handler runs on that goroutine too,
// and its data set reader pulls the P-DATA-TF PDUs from the connection
// itself (no hand-off between goroutines per fragment).
type scpAssoc struct {
	s                   *Server
	c                   *conn
	log                 zerolog.Logger
	callingAE, calledAE string
	remote              string
	contexts            map[byte]acceptedContext

	items  []PDV  // PDVs of the last P-DATA-TF not handled yet; alias the PDU reader's buffer
	cmdBuf []byte // command fragments so far
	cmdCtx byte   // context of the command being assembled
	stored int    // instances stored, for the release log line
}

// peerAbortError is the error of a data set the peer aborted (A-ABORT):
// the association ends without a PDU of ours.
type peerAbortError struct{ source, reason byte }

// Error implements error.
func (e *peerAbortError) Error() string {
	return fmt.Sprintf("dimse: association aborted by peer (source %d, reason %d)", e.source, e.reason)
}

// run is the DIMSE loop: it returns when the association is released or
// aborted, or the server closes.
func (a *scpAssoc) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for {
		v, p, err := a.next()
		if err != nil {
			a.end(err)
			return
		}
		if p == nil {
			if err := a.pdv(ctx, v); err != nil {
				a.end(err)
				return
			}
			continue
		}
		switch p := p.(type) {
		case *ReleaseRQ:
			if len(a.cmdBuf) > 0 {
				a.end(fmt.Errorf("%w: a-release-rq during a message", ErrUnexpectedPDU))
				return
			}
			_ = a.c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_ = a.c.write(&ReleaseRP{})
			a.log.Info().Int("instances", a.stored).Dur("duration", time.Since(start)).Msg("dimse: association released")
			return
		case *Abort:
			a.end(&peerAbortError{source: p.Source, reason: p.Reason})
			return
		default:
			a.end(fmt.Errorf("%w: type 0x%02x", ErrUnexpectedPDU, p.Type()))
			return
		}
	}
}

// next returns the next PDV, reading a PDU when the last P-DATA-TF is used
// up, or the PDU read when it is not a P-DATA-TF. The PDV's data is valid
// until the next call.
func (a *scpAssoc) next() (PDV, PDU, error) {
	for len(a.items) == 0 {
		p, err := a.c.read(a.s.idle())
		if err != nil {
			return PDV{}, nil, err
		}
		pd, ok := p.(*PDataTF)
		if !ok {
			return PDV{}, p, nil
		}
		a.items = pd.Items
	}
	v := a.items[0]
	a.items = a.items[1:]
	return v, nil, nil
}

// end closes the association after err: a peer's A-ABORT is logged, any
// other error aborts it (abortOnError).
func (a *scpAssoc) end(err error) {
	var pa *peerAbortError
	if errors.As(err, &pa) {
		a.log.Warn().Uint8("source", pa.source).Uint8("reason", pa.reason).Int("instances", a.stored).
			Msg("dimse: association aborted by peer")
		_ = a.c.nc.Close()
		return
	}
	abortOnError(a.c, a.log, "data transfer", err)
}

// pdv handles one presentation data value outside a data set.
func (a *scpAssoc) pdv(ctx context.Context, v PDV) error {
	pc, ok := a.contexts[v.ContextID]
	if !ok {
		return fmt.Errorf("%w: pdv on presentation context %d, not accepted", ErrMalformedPDU, v.ContextID)
	}
	if !v.Command {
		return fmt.Errorf("%w: data set fragment without a command", ErrUnexpectedPDU)
	}
	if len(a.cmdBuf) > 0 && a.cmdCtx != v.ContextID {
		return fmt.Errorf("%w: command fragments on two contexts", ErrUnexpectedPDU)
	}
	if len(a.cmdBuf)+len(v.Data) > maxCommandSet {
		return fmt.Errorf("%w: command set longer than %d bytes", ErrMalformedPDU, maxCommandSet)
	}
	a.cmdCtx = v.ContextID
	a.cmdBuf = append(a.cmdBuf, v.Data...)
	if !v.Last {
		return nil
	}
	cmd, err := decodeCommand(a.cmdBuf)
	a.cmdBuf = a.cmdBuf[:0]
	if err != nil {
		return err
	}
	return a.dispatch(ctx, v.ContextID, pc, cmd)
}

// dispatch acts on a complete command.
func (a *scpAssoc) dispatch(ctx context.Context, id byte, pc acceptedContext, cmd *command) error {
	switch cmd.Field {
	case cEchoRQ:
		return a.echo(id, cmd)
	case cStoreRQ:
		return a.store(ctx, id, pc, cmd)
	}
	a.log.Warn().Uint16("command_field", cmd.Field).Msg("dimse: unsupported dimse command")
	if cmd.HasDataSet {
		// A data set follows that we cannot answer for; abort rather than
		// guess where the next message starts.
		return fmt.Errorf("%w: unsupported command 0x%04x with data set", ErrUnexpectedPDU, cmd.Field)
	}
	return a.c.sendCommand(id, &command{Field: cmd.Field | 0x8000, RespondedTo: cmd.MessageID,
		SOPClassUID: cmd.SOPClassUID, Status: 0x0211})
}
