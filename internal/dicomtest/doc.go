// Package dicomtest generates synthetic DICOM studies with planted
// identifiers, for the tests and benchmarks of the anonymisation engine, the
// end-to-end tests and `dicomgate demo`.
//
// It carries its own small DICOM Part 10 encoder and does not use the
// product's codec (package anonymize), so that a bug in one cannot hide a bug
// in the other. It imports only the standard library and the data dictionary
// of github.com/suyashkumar/dicom (for VRs and keywords). Nothing here reads
// files at run time; the attribute list of PS3.15 Table E.1-1 is embedded in
// profile_table.go (regenerate with `go generate`).
//
// Any package's tests may import it; product code must not.
//
// # Generating
//
// A [Generator] is deterministic for its seed:
//
//	g := dicomtest.New(42)
//	files, key, err := g.Corpus(dicomtest.CorpusOptions{Patients: 3, Slices: 12})
//
// [WriteCorpus] writes the same corpus to a directory tree plus
// answer_key.json. [Generator.CTSlice] returns one CT slice quickly, for
// benchmarks.
//
// Each patient gets one study: a CT localizer, N CT slices that reference it
// (ReferencedImageSequence) and share a FrameOfReferenceUID, a Secondary
// Capture "kitchen sink" that carries almost every attribute of Table E.1-1,
// and unless [CorpusOptions.NoExtras] is set: a Comprehensive SR, a
// Grayscale Softcopy Presentation State, an Encapsulated PDF, an MR, a US and
// a JPEG-labelled Secondary Capture.
//
// # Transfer syntaxes
//
// Files rotate through implicit VR little endian, explicit VR little endian,
// explicit VR big endian, deflated explicit VR little endian and RLE
// Lossless (real RLE segments, Basic Offset Table). The JPEG-labelled SC
// carries opaque fragments. Sequences are written with defined and undefined
// lengths, alternately.
//
// # Planted identifiers
//
// Values are either tokens PHI-<CLASS>-<6 hex> (PHI_<CLASS>_<6 HEX> for CS)
// or realistic (names, phone numbers, addresses, a UTF-8 name under
// SpecificCharacterSet ISO_IR 192). The [Key] lists every planted value with
// its attribute path, tag path and files. [FindLeaks] searches bytes (for
// example an anonymiser's output) for the planted values a Basic Profile
// anonymiser must remove or replace.
package dicomtest
