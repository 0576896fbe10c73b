// Package policy reads anonymisation policy files (YAML), validates them,
// gives each a canonical hash, and compiles them into an
// [anonymize.Profile] for the engine.
//
// Of dicomgate's packages it imports only anonymize. The agent, the relay
// (policy tester and version enforcement) and the command line use it.
//
// # Files
//
// A policy file names the PS3.15 profile and options, per-tag rules, file
// filters and recipients:
//
//	id: trial-abc
//	version: 3
//	profile: basic
//	options: [retain-safe-private, retain-long-modified-dates]
//	rules:
//	  - tag: PatientID
//	    action: lookup
//	    table: subjects.csv
//	    missing: hash
//	filters:
//	  - reject: {Modality: [SR, KO]}
//	    reason: structured reports are not collected
//
// docs/policy.md is the reference for every field.
//
// # Validation
//
// [Load] and [Parse] report every problem at once, each with its line and
// column, as a *[ValidationError]. Unknown fields are errors, so a typo
// never silently weakens anonymisation. Messages never quote lookup table
// values or regular expressions.
//
// # Hash
//
// [Policy.Hash] is the hex SHA-256 of [Policy.Canonical]: the policy with
// tags resolved, action letters spelled out, defaults made explicit, sets
// sorted, and each lookup table replaced by the hash of its content.
// Reformatting a file or editing comments keeps the hash; any change of
// meaning, including a changed table row, changes it.
package policy
