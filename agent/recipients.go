package agent

import (
	"errors"
	"fmt"
	"strings"

	"dicomgate/seal"
)

// ErrNoRecipient reports that neither the agent configuration nor the
// policy names a recipient: files could not be sealed to anyone.
var ErrNoRecipient = errors.New("agent: no recipient: set recipients in the agent config or the policy")

// isRecipientText reports whether s is a public key in text form rather
// than the path of a .pub file.
func isRecipientText(s string) bool {
	return strings.HasPrefix(strings.TrimSpace(s), seal.RecipientPrefix)
}

// loadRecipients parses or loads every entry of the agent configuration's
// recipients and of the policy's, dropping duplicates. Entries are keys in
// text form or .pub file paths. An empty result is [ErrNoRecipient].
func loadRecipients(fromConfig, fromPolicy []string) ([]*seal.Recipient, error) {
	var out []*seal.Recipient
	seen := map[string]bool{}
	add := func(where string, i int, s string) error {
		var (
			r   *seal.Recipient
			err error
		)
		if isRecipientText(s) {
			r, err = seal.ParseRecipient(s)
		} else {
			r, err = seal.LoadRecipient(strings.TrimSpace(s))
		}
		if err != nil {
			return fmt.Errorf("agent: %s recipients[%d]: %w", where, i, err)
		}
		if fp := r.Fingerprint(); !seen[fp] {
			seen[fp] = true
			out = append(out, r)
		}
		return nil
	}
	for i, s := range fromConfig {
		if err := add("config", i, s); err != nil {
			return nil, err
		}
	}
	for i, s := range fromPolicy {
		if err := add("policy", i, s); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, ErrNoRecipient
	}
	return out, nil
}
