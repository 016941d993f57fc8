//go:build windows

package process

// Identity: a process is its pid and its creation time, read and checked
// on an open handle, which pins the process while it is used.

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows"

	"github.com/lifeline-vm/lifeline/drivers"
)

// startedAtSlack: a FILETIME counts 100 ns.
const startedAtSlack = 100 * time.Nanosecond

// filetime packs a FILETIME into the uint64 recorded as a start time.
func filetime(ft windows.Filetime) uint64 {
	return uint64(ft.HighDateTime)<<32 | uint64(ft.LowDateTime)
}

// identifyHandle reads the identity of the process open as h; exited
// reports that it has ended (its handle is signalled). The process group of
// a CREATE_NEW_PROCESS_GROUP leader is its pid.
func identifyHandle(h windows.Handle, pid int) (p drivers.Proc, exited bool, err error) {
	var creation, exit, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &creation, &exit, &kernel, &user); err != nil {
		return drivers.Proc{}, false, fmt.Errorf("pid %d: GetProcessTimes: %w", pid, err)
	}
	signalled, err := waitObject(h, 0)
	if err != nil {
		return drivers.Proc{}, false, fmt.Errorf("pid %d: %w", pid, err)
	}
	return drivers.Proc{PID: pid, StartTime: filetime(creation), Group: pid}, signalled, nil
}

// openProcess opens pid with access; a pid that names no process gives an
// error wrapping ErrGone.
func openProcess(pid int, access uint32) (windows.Handle, error) {
	h, err := windows.OpenProcess(access|windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.SYNCHRONIZE,
		false, uint32(pid))
	if err != nil {
		if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
			return 0, fmt.Errorf("pid %d: %w", pid, ErrGone)
		}
		return 0, fmt.Errorf("pid %d: OpenProcess: %w", pid, err)
	}
	return h, nil
}

// openRecorded opens the process recorded as p with access, and checks on
// that handle (which pins the process) that it is p and still runs.
func openRecorded(p drivers.Proc, access uint32) (windows.Handle, error) {
	h, err := openProcess(p.PID, access)
	if err != nil {
		return 0, err
	}
	live, exited, err := identifyHandle(h, p.PID)
	if err == nil {
		err = match(p, live)
	}
	if err == nil && exited {
		err = fmt.Errorf("pid %d: exited: %w", p.PID, ErrGone)
	}
	if err != nil {
		windows.CloseHandle(h)
		return 0, err
	}
	return h, nil
}

// identify reads pid's identity; exited reports a process that has ended
// but whose object is still open somewhere (Wine keeps a just-exited pid
// openable for about half a second).
func identify(pid int) (drivers.Proc, bool, error) {
	h, err := openProcess(pid, 0)
	if err != nil {
		return drivers.Proc{}, false, err
	}
	defer windows.CloseHandle(h)
	return identifyHandle(h, pid)
}

func bootID() string { return "" }

func startedAt(p drivers.Proc) (time.Time, error) {
	ft := windows.Filetime{HighDateTime: uint32(p.StartTime >> 32), LowDateTime: uint32(p.StartTime)}
	return time.Unix(0, ft.Nanoseconds()), nil
}
