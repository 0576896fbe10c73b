package dimse

import (
	"slices"
	"strings"
)

// SupportedTransferSyntaxes returns the transfer syntaxes a [Server]
// accepts for storage: the uncompressed ones, deflated explicit VR little
// endian, RLE lossless and the JPEG family (every UID under
// 1.2.840.10008.1.2.4.), which are stored without being decoded.
func SupportedTransferSyntaxes() []string {
	return []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
		DeflatedExplicitVRLE, RLELossless, jpegFamilyPrefix + "*"}
}

// supportedSyntax reports whether a storage data set in ts can be received.
func supportedSyntax(ts string) bool {
	switch ts {
	case ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLE, RLELossless:
		return true
	}
	return strings.HasPrefix(ts, jpegFamilyPrefix) && len(ts) > len(jpegFamilyPrefix)
}

// IsStorageSOPClass reports whether uid names a storage SOP class: any UID
// under 1.2.840.10008.5.1.4.1.1. or one of the few storage classes defined
// elsewhere in PS3.4 (RT delivery instructions, hanging protocols, color
// palettes, implant templates, protocols).
func IsStorageSOPClass(uid string) bool {
	if strings.HasPrefix(uid, storagePrefix) && len(uid) > len(storagePrefix) {
		return true
	}
	switch uid {
	case "1.2.840.10008.5.1.4.34.7", // RT Beams Delivery Instruction
		"1.2.840.10008.5.1.4.34.10",     // RT Brachy Application Setup Delivery Instruction
		"1.2.840.10008.5.1.4.38.1",      // Hanging Protocol
		"1.2.840.10008.5.1.4.39.1",      // Color Palette
		"1.2.840.10008.5.1.4.43.1",      // Generic Implant Template
		"1.2.840.10008.5.1.4.44.1",      // Implant Assembly Template
		"1.2.840.10008.5.1.4.45.1",      // Implant Template Group
		"1.2.840.10008.5.1.4.1.1.200.1", // CT Defined Procedure Protocol
		"1.2.840.10008.5.1.4.1.1.200.2": // Protocol Approval
		return true
	}
	return false
}

// chooseSyntax picks the transfer syntax for a proposed context: explicit
// VR little endian when offered, else the first supported syntax in the
// proposer's order. ok is false when none is supported.
func chooseSyntax(proposed []string, verification bool) (string, bool) {
	if slices.Contains(proposed, ExplicitVRLittleEndian) {
		return ExplicitVRLittleEndian, true
	}
	for _, ts := range proposed {
		if verification {
			if ts == ImplicitVRLittleEndian || ts == ExplicitVRBigEndian {
				return ts, true
			}
			continue
		}
		if supportedSyntax(ts) {
			return ts, true
		}
	}
	return "", false
}

// negotiateContext answers one proposed presentation context.
func negotiateContext(pc ProposedContext) ContextResult {
	r := ContextResult{ID: pc.ID}
	verification := pc.AbstractSyntax == VerificationSOPClass
	switch {
	case pc.ID%2 == 0:
		r.Result = pcNoReason
	case !verification && !IsStorageSOPClass(pc.AbstractSyntax):
		r.Result = pcAbstractNotSupported
	default:
		ts, ok := chooseSyntax(pc.TransferSyntaxes, verification)
		if !ok {
			r.Result = pcTransferNotSupported
			break
		}
		r.Result, r.TransferSyntax = pcAccepted, ts
	}
	return r
}
