package lima

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// Lima's pid files (ha.pid, qemu.pid) hold a bare pid. A pid alone does not
// name a process across pid reuse, so the driver trusts one only when the
// live process could have written it: it started no later than the file was
// last written (its mtime, within process.StartedAtSlack). A process that
// reused the pid after the writer died started after that. Lifeline's own
// RememberedDriverFile holds a full identity and is checked exactly.

// livePIDFile returns the live process that path (a bare-pid file) names,
// and whether there is one. A missing, empty or malformed file, a dead pid
// and a pid reused since the file was written all give false.
func livePIDFile(path string) (drivers.Proc, bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return drivers.Proc{}, false, nil
	}
	if err != nil {
		return drivers.Proc{}, false, err
	}
	p, err := process.ReadPIDFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, process.ErrBadPIDFile):
		return drivers.Proc{}, false, nil // gone, or being written
	case err != nil:
		return drivers.Proc{}, false, err
	}
	live, err := process.Identify(p.PID)
	switch {
	case errors.Is(err, process.ErrGone):
		return drivers.Proc{}, false, nil
	case err != nil:
		return drivers.Proc{}, false, err
	}
	at, err := process.StartedAt(live)
	if err != nil {
		return drivers.Proc{}, false, err
	}
	if at.After(fi.ModTime().Add(process.StartedAtSlack)) {
		return drivers.Proc{}, false, nil // pid reused after the file was written
	}
	return live, true, nil
}

// rememberedDriver returns the live process of the instance's
// RememberedDriverFile, and whether it still runs with that identity.
func rememberedDriver(dir string) (drivers.Proc, bool, error) {
	p, err := process.ReadPIDFile(filepath.Join(dir, RememberedDriverFile))
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, process.ErrBadPIDFile):
		return drivers.Proc{}, false, nil
	case err != nil:
		return drivers.Proc{}, false, err
	case p.StartTime == 0:
		return drivers.Proc{}, false, nil // not written by us
	}
	live, err := process.Identify(p.PID)
	switch {
	case errors.Is(err, process.ErrGone):
		return drivers.Proc{}, false, nil
	case err != nil:
		return drivers.Proc{}, false, err
	case live.StartTime != p.StartTime, p.BootID != "" && live.BootID != "" && live.BootID != p.BootID:
		return drivers.Proc{}, false, nil // the pid names another process now
	}
	return live, true, nil
}

// remember records p as the instance's VM driver process.
func remember(dir string, p drivers.Proc) error {
	return process.WritePIDFile(filepath.Join(dir, RememberedDriverFile), p)
}

// findDriver returns the VM driver process (QEMU) of the agent: the live
// process a driver pid file names that started no earlier than the agent
// (it is the agent's child) on the same boot, unless ha.pid names another
// live host agent started since (someone else's). ok is false when there is
// none (not yet written, already removed, or another process's).
func findDriver(dir string, agent drivers.Proc) (p drivers.Proc, ok bool, err error) {
	if !agent.IsZero() {
		// ha.pid naming a live host agent that started after agent, not
		// agent itself: someone started the instance since (`limactl
		// start` after the recorded agent died), and the driver pid files
		// are that agent's, never agent's to kill or record.
		other, ok, err := livePIDFile(filepath.Join(dir, filenames.HostAgentPID))
		if err != nil {
			return drivers.Proc{}, false, err
		}
		if ok && (other.PID != agent.PID || other.StartTime != agent.StartTime) && !startedBefore(other, agent) {
			return drivers.Proc{}, false, nil
		}
	}
	for _, name := range driverPIDFiles {
		p, ok, err := livePIDFile(filepath.Join(dir, name))
		if err != nil || !ok {
			if err != nil {
				return drivers.Proc{}, false, err
			}
			continue
		}
		if startedBefore(p, agent) {
			continue
		}
		return p, true, nil
	}
	return drivers.Proc{}, false, nil
}

// startedBefore reports whether p cannot be a descendant of agent: it
// started earlier, or on another boot.
func startedBefore(p, agent drivers.Proc) bool {
	if agent.IsZero() {
		return false
	}
	if p.BootID != "" && agent.BootID != "" && p.BootID != agent.BootID {
		return true
	}
	return p.StartTime < agent.StartTime
}

// checkNothingRuns returns an error wrapping ErrAgentAlive or
// ErrDriverAlive (and process.ErrAlive) when a process of the instance
// still runs: the one ha.pid names, one a driver pid file names, or the
// remembered driver. Errors reading the files are returned too: the
// callers refuse rather than guess.
func (d *Driver) checkNothingRuns(vm, dir string) error {
	var errs []error
	if c := d.spawned(vm); c != nil {
		select {
		case <-c.Done():
		default:
			errs = append(errs, fmt.Errorf("%w: %w: host agent pid %d (spawned by this driver)", ErrAgentAlive, process.ErrAlive, c.Proc.PID))
		}
	}
	if p, ok, err := livePIDFile(filepath.Join(dir, filenames.HostAgentPID)); err != nil {
		errs = append(errs, err)
	} else if ok {
		errs = append(errs, fmt.Errorf("%w: %w: host agent pid %d (%s)", ErrAgentAlive, process.ErrAlive, p.PID, filenames.HostAgentPID))
	}
	seen := map[int]bool{}
	for _, name := range driverPIDFiles {
		p, ok, err := livePIDFile(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			seen[p.PID] = true
			errs = append(errs, fmt.Errorf("%w: %w: driver pid %d (%s)", ErrDriverAlive, process.ErrAlive, p.PID, name))
		}
	}
	if p, ok, err := rememberedDriver(dir); err != nil {
		errs = append(errs, err)
	} else if ok && !seen[p.PID] {
		errs = append(errs, fmt.Errorf("%w: %w: driver pid %d (remembered in %s; its qemu.pid is gone)", ErrDriverAlive, process.ErrAlive, p.PID, RememberedDriverFile))
	}
	return errors.Join(errs...)
}
