// Package seal implements the dicomgate sealed-file format: streaming
// AES-256-GCM encryption of an anonymised DICOM file, with the per-file data
// key wrapped by HPKE to every recipient of the project, and Ed25519-signed
// manifests describing each file. The byte layout is specified in
// docs/sealed-format.md.
//
// seal imports only the standard library. The agent seals, the relay only
// verifies manifests and stores ciphertext (it holds no [Identity]), and
// core labs open files with `dicomgate fetch`.
//
// # Keys
//
// An [Identity] is a core lab's secret key, a [Recipient] its public key
// (HPKE KEM MLKEM768-X25519, KDF HKDF-SHA256, AEAD AES-256-GCM). Their text
// forms are one line each, "DICOMGATE-KEY-1..." and "dgpub1...", see
// [ParseIdentity] and [ParseRecipient]. [WriteKeyPair] implements
// `dicomgate keygen --out NAME`; [LoadIdentity] and [LoadRecipient] read the
// files back.
//
// # Sealing and opening
//
// [NewWriter] writes the header and returns an io.WriteCloser; Close writes
// the final chunk, after which [Writer.Stats] gives the plaintext and
// ciphertext sizes and SHA-256 for the manifest. [NewReader] authenticates
// the header and returns an io.Reader of the plaintext. Memory use on both
// sides is bounded by the chunk size ([DefaultChunkSize], 1 MiB).
//
// A Reader releases each chunk once it is authenticated, so it may return
// a prefix of the plaintext before it detects truncation or tampering. The
// plaintext must not be trusted until Read returns io.EOF: write it to a
// temporary file and rename it into place only then.
//
// # Errors
//
// Callers branch with errors.Is on [ErrTampered] (corrupt, truncated,
// reordered, spliced or extended file; truncation also matches
// io.ErrUnexpectedEOF), [ErrNoIdentityMatch] (none of the identities is a
// recipient), [ErrUnsupportedVersion] and, for manifests, [ErrBadSignature].
// Error messages never contain key material or file contents.
//
// # Manifests
//
// [SignManifest] signs a [Manifest] with the agent's Ed25519 key into a
// self-contained JSON envelope; [OpenManifest] verifies the signature and
// the signer (via a caller-supplied trust function such as [TrustKeys])
// before decoding anything. [GenerateSigningKey], [MarshalSigningKey] and
// [ParseSigningKey] handle the agent's key as PEM PKCS #8.
package seal
