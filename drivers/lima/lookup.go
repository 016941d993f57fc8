package lima

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lima-vm/lima/pkg/hostagent/events"
	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// Lookup tells what runs of vm after a daemon restart (and before a reset
// or delete):
//
//   - A recorded host agent is checked by identity. Alive, it is Ready when
//     it is up (spec.Ready "guest": its log holds `"running": true` and no
//     "exiting" after it; "agent": GET /v1/info answers on ha.sock and the
//     driver process runs), else Alive.
//   - A dead agent is Gone, whatever else runs: a live QEMU left behind is
//     the orphan case. The engine records lost and reaps the VM with
//     KillTree, which kills that QEMU by identity. When no driver identity
//     was recorded, the one qemu.pid names (if it started after the agent,
//     and ha.pid names no other live agent: a user's `limactl start` since
//     is not the dead agent's) is returned in Procs.Driver, and KillTree
//     finds it the same way.
//   - With no recorded agent (the daemon died between the spawn and its
//     record), the agent is found through ha.pid, accepted only when it
//     started after since (and before ha.pid was written), or, before it
//     wrote ha.pid, by its command line (Linux).
//
// Found identities come back in Procs (Driver included, when qemu.pid names
// the agent's QEMU), for the engine to record.
func (d *Driver) Lookup(ctx context.Context, vm string, spec drivers.Spec, procs drivers.Procs, since time.Time) (drivers.Liveness, drivers.Procs, error) {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return drivers.Gone, procs, err
	}
	if procs.Agent.IsZero() {
		p, ok, err := d.discoverAgent(dir, since)
		if err != nil {
			return drivers.Gone, procs, fmt.Errorf("vm %q: lookup: %w", vm, err)
		}
		if !ok {
			return drivers.Gone, procs, nil
		}
		procs.Agent = p
	} else {
		switch err := process.Check(procs.Agent); {
		case errors.Is(err, process.ErrGone):
			if procs.VMProcess.IsZero() {
				if p, ok, err := findDriver(dir, procs.Agent); err == nil && ok {
					procs.VMProcess = p
				}
			}
			return drivers.Gone, procs, nil
		case err != nil:
			return drivers.Gone, procs, fmt.Errorf("vm %q: lookup: %w", vm, err)
		}
	}
	if procs.VMProcess.IsZero() {
		p, ok, err := findDriver(dir, procs.Agent)
		if err != nil {
			return drivers.Alive, procs, fmt.Errorf("vm %q: lookup: %w", vm, err)
		}
		if ok {
			procs.VMProcess = p
		}
	}
	if d.isUp(ctx, dir, spec, procs) {
		return drivers.Ready, procs, nil
	}
	return drivers.Alive, procs, nil
}

// discoverAgent finds the host agent through ha.pid: a live process that
// started after since (within process.StartedAtSlack) and no later than the
// file was written. An agent that has not written ha.pid yet (the daemon
// was killed right after the spawn) is found, on Linux, by its command line
// (`--pidfile <dir>/ha.pid`, a group of its own): the earliest such process
// that started after since. A zero since accepts any start time.
func (d *Driver) discoverAgent(dir string, since time.Time) (drivers.Proc, bool, error) {
	pidFile := filepath.Join(dir, filenames.HostAgentPID)
	p, ok, err := livePIDFile(pidFile)
	if err != nil {
		return drivers.Proc{}, false, err
	}
	if ok {
		at, err := process.StartedAt(p)
		if err != nil {
			return drivers.Proc{}, false, err
		}
		if !at.Add(process.StartedAtSlack).Before(since) {
			return p, true, nil
		}
		// An older agent, not the one spawned since: look on.
	}
	agents, err := agentsNaming(pidFile)
	if err != nil {
		return drivers.Proc{}, false, fmt.Errorf("look for the host agent by its command line: %w", err)
	}
	var found drivers.Proc
	for _, a := range agents {
		at, err := process.StartedAt(a)
		if err != nil {
			return drivers.Proc{}, false, err
		}
		if at.Add(process.StartedAtSlack).Before(since) {
			continue
		}
		if found.IsZero() || a.StartTime < found.StartTime {
			found = a
		}
	}
	return found, !found.IsZero(), nil
}

// isUp reports whether the live agent is up, as spec.Ready defines it.
func (d *Driver) isUp(ctx context.Context, dir string, spec drivers.Spec, procs drivers.Procs) bool {
	if spec.Ready == ReadyAgent {
		return !procs.VMProcess.IsZero() && agentAnswers(ctx, filepath.Join(dir, filenames.HostAgentSock))
	}
	var since time.Time
	if at, err := process.StartedAt(procs.Agent); err == nil {
		since = at.Add(-process.StartedAtSlack)
	}
	running, err := reportedRunning(filepath.Join(dir, filenames.HostAgentStdoutLog), since)
	if err != nil {
		d.log.Warn().Err(err).Str("dir", dir).Msg("read host agent events")
	}
	return running
}

// reportedRunning reports whether the event log holds a `"running": true`
// (not degraded) from since on, with no "exiting" after it.
func reportedRunning(path string, since time.Time) (bool, error) {
	t := &tail{path: path}
	defer t.close()
	lines, err := t.lines()
	running := false
	for _, l := range lines {
		var ev events.Event
		if json.Unmarshal(l, &ev) != nil || (!ev.Time.IsZero() && ev.Time.Before(since)) {
			continue
		}
		switch {
		case ev.Status.Exiting:
			running = false
		case ev.Status.Running && !ev.Status.Degraded:
			running = true
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return running, err
}
