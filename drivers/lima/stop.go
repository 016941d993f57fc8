package lima

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// Interrupt asks the host agent to stop gracefully: SIGINT to its process
// group (CTRL_BREAK on Windows), after checking its identity, as `limactl
// stop` does to the agent (Lima signals the pid only; the group also
// reaches the agent's ssh helpers, never QEMU, which has a group of its
// own). The agent then powers the guest down over QMP and waits for QEMU:
// up to 3 minutes in Lima 1.2.3 when no guest answers. An agent that is
// gone gives an error wrapping process.ErrGone; Watch reports its exit.
func (d *Driver) Interrupt(_ context.Context, vm string, procs drivers.Procs) error {
	if err := process.Interrupt(procs.Agent); err != nil {
		return fmt.Errorf("vm %q: interrupt: %w", vm, err)
	}
	return nil
}

// Terminate sends SIGTERM to the host agent's group (TerminateProcess on
// Windows); it does not wait. Lima's host agent takes SIGTERM like SIGINT
// (a graceful stop), so for Lima this step only repeats the request; the
// kill that follows does the rest.
func (d *Driver) Terminate(_ context.Context, vm string, procs drivers.Procs) error {
	if err := process.Terminate(procs.Agent); err != nil {
		return fmt.Errorf("vm %q: terminate: %w", vm, err)
	}
	return nil
}

// KillTree kills both trees of the VM and waits, each with its own bound
// (process.KillWait, also when ctx is already done), until they are gone:
// the host agent's process group, and the VM driver process (QEMU), which
// runs in a group of its own and outlives a killed agent. The driver
// processes killed are the recorded one (procs.Driver) and, by identity, any
// other the instance's files name: the live process in qemu.pid that
// started after the recorded agent (a QEMU that appeared before its identity
// was recorded), the remembered identity (RememberedDriverFile), and, on
// Linux, the live agent's children in groups of their own (a QEMU killed
// with its agent before it wrote qemu.pid). All of them are searched for
// while the agent's group is frozen (SIGSTOP, process.Freeze): a QEMU
// forked during the search would otherwise slip out in a group of its own,
// with no pid file and nobody who knows it. Each
// kill is identity-checked (a pid now held by another process is never
// signalled) and idempotent. With no agent recorded (its spawn record was
// lost), the instance's agent is found as Lookup finds it (ha.pid, or on
// Linux its command line), and the driver pid files' live process (the one
// Cleanup would refuse on) is killed too, so that no VM is left stuck
// behind a process nobody recorded: a tree already gone is success. An error names
// the pid.
func (d *Driver) KillTree(ctx context.Context, vm string, procs drivers.Procs) error {
	var errs []error
	dir, dirErr := d.InstanceDir(vm)
	if dirErr != nil {
		errs = append(errs, dirErr)
	}
	if procs.Agent.IsZero() && dirErr == nil {
		// No agent recorded: the one the instance's files or command lines
		// name is the VM's (a spawn whose record was lost), and it is what
		// Cleanup would refuse on. Killed by identity, like a recorded one.
		p, ok, err := d.discoverAgent(dir, time.Time{})
		if err != nil {
			errs = append(errs, fmt.Errorf("look for an unrecorded host agent: %w", err))
		} else if ok {
			d.log.Warn().Str("vm", vm).Int("pid", p.PID).Msg("kill tree: a host agent runs that no record names; killing it")
			procs.Agent = p
		}
	}
	// A frozen agent forks nothing and writes no pid file: what the search
	// below finds is all there is. The kill that follows ends the group.
	agentAlive := !procs.Agent.IsZero() && process.Check(procs.Agent) == nil
	if agentAlive {
		if err := process.Freeze(ctx, procs.Agent); err != nil && !errors.Is(err, process.ErrGone) && !errors.Is(err, errors.ErrUnsupported) {
			d.log.Warn().Err(err).Str("vm", vm).Int("pid", procs.Agent.PID).Msg("freeze the host agent before the kill")
		}
	}
	targets := []drivers.Proc{procs.VMProcess}
	if dirErr == nil {
		// With an agent, its QEMU started after it; with none (recorded or
		// found), the live process a driver pid file names, the same one
		// Cleanup refuses on: a VM is never left stuck behind it.
		p, ok, err := findDriver(dir, procs.Agent)
		if err != nil {
			errs = append(errs, fmt.Errorf("look for the VM driver process: %w", err))
		} else if ok {
			targets = append(targets, p)
		}
		p, ok, err = rememberedDriver(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", RememberedDriverFile, err))
		} else if ok {
			targets = append(targets, p)
		}
	}
	// While the agent lives, its children in groups of their own are its
	// VM driver processes, even one that has not written qemu.pid yet.
	if agentAlive {
		kids, err := childrenInOtherGroups(procs.Agent)
		if err != nil {
			errs = append(errs, fmt.Errorf("look for the agent's children: %w", err))
		}
		targets = append(targets, kids...)
	}
	// Its drivers that outlived it before writing a pid file (the agent, or
	// a daemon in the middle of this kill, was killed between the fork and
	// qemu.pid): by their working directory and LIMA_HOME (Linux).
	if !procs.Agent.IsZero() && dirErr == nil {
		orphans, err := orphanedDrivers(dir, d.home, procs.Agent)
		if err != nil {
			errs = append(errs, fmt.Errorf("look for the agent's orphaned VM driver processes: %w", err))
		}
		targets = append(targets, orphans...)
	}
	// The drivers die first, the frozen agent last: a kill cut short (the
	// daemon killed) leaves the agent, through which the next one finds
	// what is left, rather than a QEMU nobody can name.
	seen := map[int]bool{}
	live := 0 // driver processes alive when killed: a graceful stop leaves none
	for _, p := range targets {
		if p.IsZero() || seen[p.PID] || p.PID == procs.Agent.PID {
			continue
		}
		seen[p.PID] = true
		if process.Check(p) == nil {
			live++
		}
		if err := process.KillTree(ctx, vm+".driver", p); err != nil {
			errs = append(errs, fmt.Errorf("VM driver process: %w", err))
		}
	}
	if err := process.KillTree(ctx, vm, procs.Agent); err != nil {
		errs = append(errs, fmt.Errorf("host agent: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vm %q: kill tree: %w", vm, err)
	}
	d.mu.Lock()
	if c := d.children[vm]; c != nil && c.Proc == procs.Agent {
		delete(d.children, vm)
	}
	d.mu.Unlock()
	// Only a kill of something that ran is news: after a graceful stop the
	// tree is already gone and this was the check that it is.
	if agentAlive || live > 0 {
		d.log.Info().Str("vm", vm).Int("pid", procs.Agent.PID).Bool("agent", agentAlive).Int("drivers", live).Msg("killed host agent and VM driver trees")
	}
	return nil
}

// ProcRuns tells, by identity, whether the process recorded as p (the VM's
// QEMU, or its host agent) still runs: its pid names a live process with
// p's start time ([process.Runs]). It reads no pid file: a QEMU that
// qemu.pid names now but that started since (a `limactl start` after the
// recorded one died) is not p ([drivers.ProcReaper]).
func (d *Driver) ProcRuns(_ context.Context, vm string, _ drivers.Spec, p drivers.Proc) (bool, error) {
	ok, err := process.Runs(p)
	if err != nil {
		return false, fmt.Errorf("vm %q: check pid %d: %w", vm, p.PID, err)
	}
	return ok, nil
}

// KillProc kills the process recorded as p, with its group (QEMU runs in a
// group of its own), by identity, and waits until it is gone
// ([process.KillTree]). Unlike KillTree it looks for nothing else: no pid
// file, no child of an agent, so a QEMU someone started since is never
// touched ([drivers.ProcReaper]).
func (d *Driver) KillProc(ctx context.Context, vm string, _ drivers.Spec, p drivers.Proc) error {
	if err := process.KillTree(ctx, vm+".driver", p); err != nil {
		return fmt.Errorf("vm %q: kill VM driver process: %w", vm, err)
	}
	return nil
}

// Cleanup removes the instance's stale runtime files, *.pid, *.sock and
// *.tmp, found with os.ReadDir (never a glob: LIMA_HOME may hold '['), as
// `limactl stop -f` does; lima.yaml, the disks and the logs stay. It refuses,
// with an error wrapping ErrAgentAlive or ErrDriverAlive (and
// process.ErrAlive), while ha.pid, a driver pid file or the remembered
// identity names a live process of the instance, or an agent this Driver
// spawned still runs: removing their files would hide a live VM.
func (d *Driver) Cleanup(_ context.Context, vm string) error {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return err
	}
	if err := d.checkNothingRuns(vm, dir); err != nil {
		return fmt.Errorf("vm %q: cleanup: %w", vm, err)
	}
	if err := process.RemoveStale(dir); err != nil {
		return fmt.Errorf("vm %q: %w", vm, err)
	}
	return nil
}
