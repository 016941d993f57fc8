//go:build windows

package agentsim

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

func newGroupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

var procGenerateConsoleCtrlEvent = syscall.NewLazyDLL("kernel32.dll").NewProc("GenerateConsoleCtrlEvent")

// interruptGroup sends CTRL_BREAK to p's process group (p leads it), which
// Go delivers as os.Interrupt. It fails when the two share no console; the
// caller then kills.
func interruptGroup(p *os.Process) error {
	if r, _, err := procGenerateConsoleCtrlEvent.Call(syscall.CTRL_BREAK_EVENT, uintptr(p.Pid)); r == 0 {
		return fmt.Errorf("CTRL_BREAK to group %d: %w", p.Pid, err)
	}
	return nil
}

// killGroup terminates p. The driver child starts no children, so p is its
// whole tree. A process already gone is success.
func killGroup(p *os.Process) error {
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

const (
	processQueryLimitedInformation = 0x1000
	stillActive                    = 259
)

// processAlive reports whether pid names a running process.
func processAlive(pid int) bool {
	h, err := syscall.OpenProcess(processQueryLimitedInformation, false, uint32(pid))
	if err != nil {
		return errors.Is(err, syscall.ERROR_ACCESS_DENIED)
	}
	defer syscall.CloseHandle(h)
	var code uint32
	if err := syscall.GetExitCodeProcess(h, &code); err != nil {
		return true // cannot tell: assume it lives, the safe answer for a pid file
	}
	return code == stillActive
}
