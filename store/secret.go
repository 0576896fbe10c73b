package store

// Secret is a string that never prints: String, GoString and MarshalText
// (hence JSON, YAML and zerolog) all give "**redacted**". Read the value
// with a plain conversion, string(s), only where it is used.
type Secret string

// redacted is what a Secret prints as.
const redacted = "**redacted**"

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, so %#v does not leak either.
func (s Secret) GoString() string { return `"` + redacted + `"` }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so configuration files
// can set a Secret from a plain string.
func (s *Secret) UnmarshalText(b []byte) error {
	*s = Secret(b)
	return nil
}
