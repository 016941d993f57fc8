//go:build unix

package tests

import (
	"os/exec"
	"syscall"
)

// newSession runs cmd in a session of its own, as limactl runs the host
// agent.
func newSession(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
