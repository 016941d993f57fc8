//go:build windows

package process

// Signals: CTRL_BREAK_EVENT to the console process group (Interrupt) and
// TerminateProcess (Terminate).

import (
	"fmt"

	"golang.org/x/sys/windows"

	"github.com/lifeline-vm/lifeline/drivers"
)

// interrupt sends CTRL_BREAK_EVENT to p's console process group. It needs a
// console shared with p.
func interrupt(p drivers.Proc) error {
	if err := Check(p); err != nil {
		return err
	}
	g := p.Group
	if g == 0 {
		g = p.PID
	}
	if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(g)); err != nil {
		return fmt.Errorf("pid %d: CTRL_BREAK to group %d: %w", p.PID, g, err)
	}
	return nil
}

// terminate ends p's leader with TerminateProcess; it does not wait.
func terminate(p drivers.Proc) error {
	h, err := openRecorded(p, windows.PROCESS_TERMINATE)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	if err := windows.TerminateProcess(h, 1); err != nil {
		if exited, _ := waitObject(h, 0); exited {
			return fmt.Errorf("pid %d: %w", p.PID, ErrGone)
		}
		return fmt.Errorf("pid %d: TerminateProcess: %w", p.PID, err)
	}
	return nil
}
