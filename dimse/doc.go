// Package dimse speaks the DICOM network protocol: the upper layer of PS3.8
// (associations over TCP) and the subset of DIMSE (PS3.7) that dicomgate
// needs, C-ECHO and C-STORE, as a service class provider ([Server]) and as a
// service class user ([Dial]).
//
// Only the agent imports this package (DESIGN.md). It imports the standard
// library and zerolog only.
//
// # Receiving (SCP)
//
// A [Server] accepts associations from the calling AE titles it allows,
// accepts presentation contexts for Verification and for every storage SOP
// class, in the transfer syntaxes of [SupportedTransferSyntaxes] (explicit VR
// little endian preferred), answers C-ECHO itself and streams each C-STORE
// data set to [Handler.Store] while it arrives: the handler runs on the
// association's goroutine, and its reader pulls the next P-DATA-TF from the
// connection when it has used up the last one, so a fragment reaches the
// handler without a goroutine switch or an allocation. Memory use per
// association is bounded by the negotiated maximum PDU length, whatever the
// size of the instance. The C-STORE response is sent only after Store returns, so a
// handler that returns nil promises the instance is durably queued.
// [WritePart10] turns the stream into a DICOM Part 10 file.
//
//	srv := &dimse.Server{AETitle: "DICOMGATE", Addr: ":11112", Logger: log,
//		Handler: dimse.HandlerFunc(func(ctx context.Context, req dimse.StoreRequest, r io.Reader) error {
//			return intake.Put(ctx, req, r) // e.g. WritePart10 to a temp file, fsync, rename
//		})}
//	err := srv.Serve(ctx)
//
// # Sending (SCU)
//
//	a, err := dimse.Dial(ctx, "pacs:4242", "DICOMGATE", "ORTHANC", dimse.DialOptions{})
//	err = a.Store(ctx, f) // f: a Part 10 file
//	err = a.Release(ctx)
//
// # Robustness
//
// Every PDU length is checked against a limit before anything is allocated:
// the maximum PDU length we announced for P-DATA-TF, [MaxAssociatePDU] for
// association PDUs, exactly 4 for the fixed-size ones. An unknown PDU type, an
// oversized or malformed PDU, or a PDU that is unexpected in the current
// state aborts the association (A-ABORT) with one warning log line; the
// server keeps serving the other associations and accepting new ones.
//
// # Logging
//
// Nothing identifying a patient is ever logged: log lines carry AE titles,
// addresses, presentation context ids, SOP class and instance UIDs (debug
// level only), sizes and statuses, never data set contents.
package dimse
