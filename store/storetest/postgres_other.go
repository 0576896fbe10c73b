//go:build !unix

package storetest

import "os/exec"

// setCredential does nothing where there is no root to drop.
func setCredential(cmd *exec.Cmd, uid, gid int) {}
