//go:build unix && !linux && !darwin

package process

import (
	"errors"
	"fmt"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// Identity and exit watching are implemented for Linux and macOS only; other
// Unix systems get errors wrapping errors.ErrUnsupported.

const startedAtSlack = 0

func identify(pid int) (drivers.Proc, bool, error) {
	return drivers.Proc{}, false, fmt.Errorf("pid %d: identity: %w", pid, errors.ErrUnsupported)
}

func bootID() string { return "" }

func startedAt(p drivers.Proc) (time.Time, error) {
	return time.Time{}, fmt.Errorf("pid %d: start time: %w", p.PID, errors.ErrUnsupported)
}

func groupMembers(pgid int) ([]drivers.Proc, error) {
	return nil, fmt.Errorf("group %d: members: %w", pgid, errors.ErrUnsupported)
}

func groupStopped(pgid int) (bool, error) {
	return false, fmt.Errorf("group %d: stopped: %w", pgid, errors.ErrUnsupported)
}

func watchExit(p drivers.Proc) (exitWatch, error) {
	return nil, fmt.Errorf("pid %d: exit watch: %w", p.PID, errors.ErrUnsupported)
}
