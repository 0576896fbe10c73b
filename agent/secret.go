package agent

import "fmt"

// redacted is what a [Secret] prints instead of its value.
const redacted = "**redacted**"

// Secret is a string that never prints its value: fmt, YAML and JSON
// encoding and zerolog all show "**redacted**". Call [Secret.Reveal] to get
// the value.
type Secret string

// String returns "**redacted**" for a non-empty secret and "" otherwise.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is like [Secret.String], for the %#v verb.
func (s Secret) GoString() string { return s.String() }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// MarshalYAML implements yaml.Marshaler and writes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText implements encoding.TextMarshaler and writes the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

var (
	_ fmt.Stringer   = Secret("")
	_ fmt.GoStringer = Secret("")
)
