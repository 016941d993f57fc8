//go:build unix && !linux

package lima_test

import (
	"errors"
	"syscall"
)

// groupAlive reports whether process group pgid has a member (a zombie
// counts here: only Linux tells them apart cheaply).
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
