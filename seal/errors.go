package seal

import "errors"

// ErrTampered reports that the input is not an intact sealed file: it is
// malformed, or its header or a chunk failed authentication, or chunks were
// truncated, dropped, reordered, duplicated, spliced from another file, or
// followed by trailing data. Callers must discard any plaintext already read.
var ErrTampered = errors.New("seal: sealed data is corrupt or has been tampered with")

// ErrNoIdentityMatch reports that none of the given identities is a
// recipient of the sealed file.
var ErrNoIdentityMatch = errors.New("seal: no identity matches any recipient of the file")

// ErrUnsupportedVersion reports a sealed file whose magic is recognised but
// whose format version this package cannot read.
var ErrUnsupportedVersion = errors.New("seal: unsupported sealed-file version")

// ErrBadSignature reports a signed manifest whose signature does not verify,
// whose envelope is malformed, or whose signer is not trusted.
var ErrBadSignature = errors.New("seal: bad manifest signature")
