// Package configs holds the example configuration shipped with dicomgate:
// agent.yaml, relay.yaml, policies/*.yaml and the systemd units. The files
// are documentation first; the embedded copies let `dicomgate demo` start
// from the same defaults an administrator reads. Tests load every file.
package configs

import (
	"embed"
	"io/fs"
)

//go:embed agent.yaml relay.yaml policies/*.yaml policies/*.csv systemd/*.service
var files embed.FS

// FS returns the example files, read-only.
func FS() fs.FS { return files }

// BasicPolicy returns policies/basic.yaml: the PS3.15 Basic Profile.
func BasicPolicy() []byte {
	b, err := files.ReadFile("policies/basic.yaml")
	if err != nil {
		panic("configs: basic policy not embedded: " + err.Error())
	}
	return b
}
