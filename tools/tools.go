//go:build tools

// Package tools pins the versions of developer tools used by dicomgate's
// tests and scripts. It is a separate module so that these tools never enter
// the product's go.mod. Build a tool with, for example:
//
//	cd tools && go install github.com/versity/versitygw/cmd/versitygw
package tools

import (
	_ "github.com/versity/versitygw/cmd/versitygw"
)
