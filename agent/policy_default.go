package agent

import (
	"fmt"

	"dicomgate/policy"
)

// defaultPolicyName names the built-in policy in errors and problems.
const defaultPolicyName = "basic.yaml"

// defaultPolicy is configs/policies/basic.yaml, the policy used when the
// configuration names none (a test keeps the two identical in meaning).
const defaultPolicy = `id: basic
version: 1
description: Basic Application Level Confidentiality Profile, no options.
profile: basic
options: []
burned_in_annotation: quarantine
unknown_public: remove
`

// loadPolicy loads the policy file at path, or the built-in Basic Profile
// policy when path is "".
func loadPolicy(path string) (*policy.Policy, error) {
	var (
		p   *policy.Policy
		err error
	)
	if path == "" {
		p, err = policy.Parse(defaultPolicyName, []byte(defaultPolicy), "")
	} else {
		p, err = policy.Load(path)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: policy: %w", err)
	}
	return p, nil
}
