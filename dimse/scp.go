package dimse

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// acceptedContext is a presentation context the SCP accepted.
type acceptedContext struct {
	abstract, syntax string
}

// scpAssoc is the SCP side of one established association. Only its run
// goroutine touches it.
type scpAssoc struct {
	s                   *Server
	c                   *conn
	log                 zerolog.Logger
	callingAE, calledAE string
	remote              string
	contexts            map[byte]acceptedContext

	cmdBuf []byte // command fragments so far
	cmdCtx byte   // context of the command being assembled
	store  *inbound
	stored int // instances stored, for the release log line
}

// run is the DIMSE loop: it returns when the association is released or
// aborted, or the server closes.
func (a *scpAssoc) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for {
		p, err := a.c.read(a.s.idle())
		if err != nil {
			a.fail(ErrAborted)
			abortOnError(a.c, a.log, "data transfer", err)
			return
		}
		switch p := p.(type) {
		case *PDataTF:
			for _, pdv := range p.Items {
				if err := a.pdv(ctx, pdv); err != nil {
					a.fail(ErrAborted)
					abortOnError(a.c, a.log, "data transfer", err)
					return
				}
			}
		case *ReleaseRQ:
			if a.store != nil || len(a.cmdBuf) > 0 {
				a.fail(ErrAborted)
				abortOnError(a.c, a.log, "data transfer", fmt.Errorf("%w: a-release-rq during a message", ErrUnexpectedPDU))
				return
			}
			_ = a.c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_ = a.c.write(&ReleaseRP{})
			a.log.Info().Int("instances", a.stored).Dur("duration", time.Since(start)).Msg("dimse: association released")
			return
		case *Abort:
			a.fail(ErrAborted)
			a.log.Warn().Uint8("source", p.Source).Uint8("reason", p.Reason).Int("instances", a.stored).
				Msg("dimse: association aborted by peer")
			return
		default:
			a.fail(ErrAborted)
			abortOnError(a.c, a.log, "data transfer", fmt.Errorf("%w: type 0x%02x", ErrUnexpectedPDU, p.Type()))
			return
		}
	}
}

// pdv handles one presentation data value.
func (a *scpAssoc) pdv(ctx context.Context, v PDV) error {
	pc, ok := a.contexts[v.ContextID]
	if !ok {
		return fmt.Errorf("%w: pdv on presentation context %d, not accepted", ErrMalformedPDU, v.ContextID)
	}
	if !v.Command {
		if a.store == nil {
			return fmt.Errorf("%w: data set fragment without a command", ErrUnexpectedPDU)
		}
		if v.ContextID != a.store.contextID {
			return fmt.Errorf("%w: data set fragment on context %d, command on %d", ErrUnexpectedPDU, v.ContextID, a.store.contextID)
		}
		if err := a.store.write(v.Data); err != nil {
			return err
		}
		if v.Last {
			return a.finishStore()
		}
		return nil
	}
	if a.store != nil {
		return fmt.Errorf("%w: command fragment while a data set is arriving", ErrUnexpectedPDU)
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
		return a.startStore(ctx, id, pc, cmd)
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

// fail ends an instance in progress with err (its handler sees err).
func (a *scpAssoc) fail(err error) {
	if a.store != nil {
		a.store.abort(err)
		a.store = nil
	}
}
