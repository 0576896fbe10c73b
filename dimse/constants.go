package dimse

import "time"

// PDU types (PS3.8 section 9.3).
const (
	pduAssociateRQ byte = 0x01
	pduAssociateAC byte = 0x02
	pduAssociateRJ byte = 0x03
	pduPDataTF     byte = 0x04
	pduReleaseRQ   byte = 0x05
	pduReleaseRP   byte = 0x06
	pduAbort       byte = 0x07
)

// Item types of the association PDUs (PS3.8 section 9.3.2 to 9.3.4).
const (
	itemAppContext     byte = 0x10
	itemPresContextRQ  byte = 0x20
	itemPresContextAC  byte = 0x21
	itemAbstractSyntax byte = 0x30
	itemTransferSyntax byte = 0x40
	itemUserInfo       byte = 0x50
	itemMaxLength      byte = 0x51
	itemImplClassUID   byte = 0x52
	itemImplVersion    byte = 0x55
)

// Limits and defaults.
const (
	// DefaultMaxPDU is the maximum P-DATA-TF length a [Server] or an
	// association from [Dial] announces when none is configured.
	DefaultMaxPDU = 64 * 1024
	// MinMaxPDU and MaxMaxPDU bound the configurable maximum PDU length.
	MinMaxPDU = 4096
	MaxMaxPDU = 4 << 20
	// MaxAssociatePDU bounds A-ASSOCIATE-RQ and -AC PDUs, which carry no
	// negotiated limit (128 presentation contexts with many transfer
	// syntaxes fit easily).
	MaxAssociatePDU = 256 * 1024
	// maxCommandSet bounds a reassembled DIMSE command set.
	maxCommandSet = 64 * 1024
	// maxAETitle is the length of an AE title field.
	maxAETitle = 16
	// maxUID is the longest UID PS3.5 allows.
	maxUID = 64
	// DefaultIdleTimeout is how long an association may stay silent.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultAssociateTimeout bounds the wait for the A-ASSOCIATE-RQ.
	DefaultAssociateTimeout = 30 * time.Second
)

// Well-known UIDs.
const (
	// ApplicationContextUID is the DICOM application context name.
	ApplicationContextUID = "1.2.840.10008.3.1.1.1"
	// VerificationSOPClass is the SOP class of C-ECHO.
	VerificationSOPClass = "1.2.840.10008.1.1"
	// storagePrefix starts the UID of most storage SOP classes.
	storagePrefix = "1.2.840.10008.5.1.4.1.1."
	// ImplementationClassUID identifies dicomgate in associations and in the
	// file meta information of the files it writes.
	ImplementationClassUID = "2.25.183467330926516794376405729116397409012"
	// ImplementationVersionName goes with ImplementationClassUID.
	ImplementationVersionName = "DICOMGATE_1"
)

// Transfer syntax UIDs.
const (
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLE   = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian    = "1.2.840.10008.1.2.2"
	RLELossless            = "1.2.840.10008.1.2.5"
	jpegFamilyPrefix       = "1.2.840.10008.1.2.4."
)

// DIMSE command fields (PS3.7 section E.1).
const (
	cStoreRQ  uint16 = 0x0001
	cStoreRSP uint16 = 0x8001
	cEchoRQ   uint16 = 0x0030
	cEchoRSP  uint16 = 0x8030
)

// DIMSE statuses this package sends or interprets.
const (
	StatusSuccess          uint16 = 0x0000
	StatusOutOfResources   uint16 = 0xA700
	StatusCannotUnderstand uint16 = 0xC000
	StatusSOPClassNotSupp  uint16 = 0x0122
)

// Presentation context results (PS3.8 table 9-18).
const (
	pcAccepted             byte = 0
	pcUserRejection        byte = 1
	pcNoReason             byte = 2
	pcAbstractNotSupported byte = 3
	pcTransferNotSupported byte = 4
)

// A-ASSOCIATE-RJ result, source and reason (PS3.8 table 9-21).
const (
	rjPermanent              byte = 1
	rjTransient              byte = 2
	rjSourceUser             byte = 1
	rjSourceACSE             byte = 2
	rjSourcePresentation     byte = 3
	rjReasonNoReason         byte = 1
	rjReasonAppContext       byte = 2
	rjReasonCallingAE        byte = 3
	rjReasonCalledAE         byte = 7
	rjReasonProtocolVersion  byte = 2 // with source ACSE
	rjReasonTemporaryCongest byte = 1 // with source presentation
)

// A-ABORT source and reason (PS3.8 table 9-26).
const (
	abortSourceUser     byte = 0
	abortSourceProvider byte = 2
	abortReasonNone     byte = 0
	abortUnrecognized   byte = 1
	abortUnexpected     byte = 2
	abortUnrecognizedP  byte = 4
	abortInvalidParam   byte = 6
)
