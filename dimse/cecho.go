package dimse

// echo answers a C-ECHO-RQ with success.
func (a *scpAssoc) echo(id byte, cmd *command) error {
	a.log.Debug().Uint16("message_id", cmd.MessageID).Msg("dimse: c-echo")
	return a.c.sendCommand(id, &command{Field: cEchoRSP, RespondedTo: cmd.MessageID,
		SOPClassUID: VerificationSOPClass, Status: StatusSuccess})
}
