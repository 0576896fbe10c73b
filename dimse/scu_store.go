package dimse

import (
	"bufio"
	"context"
	"fmt"
	"io"
)

// Store sends one Part 10 file by C-STORE: it reads the file meta group to
// learn the SOP class, SOP instance and transfer syntax, then streams the
// data set that follows it, unchanged, in P-DATA-TF fragments. The
// association must have an accepted context for that class and syntax
// (else [ErrNoContext], and nothing is sent). A failure status is returned
// as a *[StatusError]; warnings (0xB000-0xBFFF) count as success.
func (a *Association) Store(ctx context.Context, part10 io.Reader) error {
	if a.closed {
		return fmt.Errorf("dimse: store on a closed association")
	}
	br := bufio.NewReaderSize(part10, 64*1024)
	meta, err := ReadFileMeta(br)
	if err != nil {
		return err
	}
	id, ok := a.contextFor(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
	if !ok {
		return fmt.Errorf("%w for sop class %s in transfer syntax %s", ErrNoContext, meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
	}
	stop := a.watch(ctx)
	defer stop()
	a.msgID++
	cmd := &command{Field: cStoreRQ, MessageID: a.msgID, SOPClassUID: meta.MediaStorageSOPClassUID,
		SOPInstanceUID: meta.MediaStorageSOPInstanceUID, HasDataSet: true}
	if err := a.c.sendCommand(id, cmd); err != nil {
		a.closeConn()
		return ctxErr(ctx, err)
	}
	w := a.c.fragmenter(id, false)
	n, err := w.ReadFrom(br)
	if err != nil {
		// The data set cannot be completed: abort so the peer drops it.
		a.Abort()
		return ctxErr(ctx, fmt.Errorf("dimse: send data set: %w", err))
	}
	if err := w.Close(); err != nil {
		a.closeConn()
		return ctxErr(ctx, err)
	}
	rsp, err := a.response(ctx, cStoreRSP)
	if err != nil {
		return err
	}
	a.log.Debug().Str("sop_class_uid", meta.MediaStorageSOPClassUID).Str("sop_instance_uid", meta.MediaStorageSOPInstanceUID).
		Int64("bytes", n).Uint16("status", rsp.Status).Msg("dimse: c-store sent")
	if rsp.Status == StatusSuccess || rsp.Status&0xF000 == 0xB000 {
		return nil
	}
	return &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
}
