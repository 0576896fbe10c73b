// Package forward delivers decrypted DICOM Part 10 files to a PACS after
// `dicomgate fetch`: by DICOM C-STORE ([CStore], through the dimse SCU) or
// by DICOMweb STOW-RS ([STOW]). Both implement [Forwarder].
//
// [CStore] reads each file's meta group and proposes exactly the SOP class
// and transfer syntax pairs the files need (no transcoding: a file goes in
// the syntax it is stored in, or fails with the PACS's answer). [STOW]
// posts the files in multipart/related; type="application/dicom" requests
// to URL/studies and reads the PACS's DICOM JSON answer to learn which
// instances failed.
//
// A file that cannot be delivered does not stop the others: Forward goes on
// and returns the failures joined, each a *[FileError].
//
// # Logging
//
// The files are anonymised, but the logger still gets only counts, AE
// titles, addresses, statuses and (at debug level) UIDs.
//
// # Imports
//
// Only cmd/dicomgate imports forward. It imports dimse and the standard
// library (and zerolog).
package forward
