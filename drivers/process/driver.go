package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// The files of a VM's run directory, <Dir>/<vm>/.
const (
	// PIDFile holds the agent's identity (see WritePIDFile).
	PIDFile = "agent.pid"
	// StdoutFile and StderrFile collect the agent's output, appended.
	StdoutFile = "agent.stdout.log"
	StderrFile = "agent.stderr.log"
)

// Environment variables the agent gets on top of its configured environment
// and the spec's.
const (
	// EnvVM is the VM's name.
	EnvVM = "LIFELINE_VM"
	// EnvRunDir is the VM's run directory, which is also the agent's
	// working directory.
	EnvRunDir = "LIFELINE_RUN_DIR"
)

// Driver is a [drivers.Driver] for a plain command agent: one program per
// VM, started from Command with the spec's environment, in its own process
// tree (see [Start]), its output in files in the VM's run directory
// <Dir>/<vm>/ next to its pid file. The agent may keep sockets (*.sock) and
// temporary files (*.tmp) there; Cleanup removes them with the pid file and
// leaves the logs.
//
// Readiness: a plain command has no readiness protocol, so it counts as up
// as soon as it runs. Every Watch of a live agent reports
// [drivers.ObsRunning] at once, whether this Driver spawned it or adopted it
// (as Lookup answers [drivers.Ready] for it): the engine watches again after
// a daemon restart or a retried record and drops what a superseded watch
// said. spec.Ready is ignored.
//
// The spec's section is its Command (argv): when set, it is the VM's
// program and arguments instead of the Driver's Command, so one Driver
// runs a different program per VM (the daemon's "command" driver has no
// Command of its own). A template is Lima's section and is refused by
// ValidateSpec.
//
// Exit: Watch reports [drivers.ObsExited] with the exit code and status for
// an agent this Driver spawned; for an adopted agent (one from before a
// daemon restart, not our child) the code is -1, as its status is not ours
// to read.
type Driver struct {
	// Dir holds the VMs' run directories.
	Dir string
	// Command is the agent's program and arguments.
	Command []string
	// Env is the agent's base environment; nil means the daemon's.
	Env []string

	mu       sync.Mutex
	children map[string]*child
}

// child is an agent this Driver spawned.
type child struct {
	p *Process
}

// NewDriver returns a Driver that runs command, keeping run directories
// under dir.
func NewDriver(dir string, command ...string) *Driver {
	return &Driver{Dir: dir, Command: command}
}

var _ drivers.Driver = (*Driver)(nil)

// RunDir is vm's run directory. A vm name that is empty, "." or "..", or
// holds a path separator, is refused.
func (d *Driver) RunDir(vm string) (string, error) {
	if vm == "" || vm == "." || vm == ".." || strings.ContainsAny(vm, `/\`+"\x00") {
		return "", fmt.Errorf("vm %q: not a usable name for a run directory", vm)
	}
	return filepath.Join(d.Dir, vm), nil
}

// Spawn starts the agent and records its identity in the pid file.
func (d *Driver) Spawn(ctx context.Context, vm string, spec drivers.Spec) (drivers.Procs, error) {
	dir, err := d.RunDir(vm)
	if err != nil {
		return drivers.Procs{}, err
	}
	argv := d.Command
	if len(spec.Command) > 0 {
		argv = spec.Command
	}
	if len(argv) == 0 {
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn: no command: the spec has none and the driver none configured", vm)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn: %w", vm, err)
	}
	p, err := Start(Command{
		Path:   argv[0],
		Args:   argv[1:],
		Env:    AgentEnv(d.Env, spec.Env, map[string]string{EnvVM: vm, EnvRunDir: dir}),
		Dir:    dir,
		Stdout: filepath.Join(dir, StdoutFile),
		Stderr: filepath.Join(dir, StderrFile),
		Name:   vm,
	})
	if err != nil {
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn: %w", vm, err)
	}
	if err := WritePIDFile(filepath.Join(dir, PIDFile), p.Proc); err != nil {
		kerr := KillTree(ctx, vm, p.Proc)
		return drivers.Procs{}, errors.Join(fmt.Errorf("vm %q: spawn: %w", vm, err), kerr)
	}
	d.mu.Lock()
	if d.children == nil {
		d.children = map[string]*child{}
	}
	d.children[vm] = &child{p: p}
	d.mu.Unlock()
	return drivers.Procs{Agent: p.Proc}, nil
}

// child returns the agent this Driver spawned for vm, if it has identity p.
func (d *Driver) child(vm string, p drivers.Proc) *child {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.children[vm]
	if c == nil || c.p.Proc != p {
		return nil
	}
	return c
}

// Watch reports ObsRunning while the agent runs, and then ObsExited, from
// Wait for our child and from [WaitExit] for an adopted agent.
func (d *Driver) Watch(ctx context.Context, vm string, _ drivers.Spec, procs drivers.Procs, sink func(drivers.Observation)) {
	c := d.child(vm, procs.Agent)
	// An adopted agent is checked now: it runs at the call, or it is gone.
	up := c == nil && !procs.Agent.IsZero() && Check(procs.Agent) == nil
	go func() {
		if c != nil {
			d.watchChild(ctx, vm, c, procs, sink)
			return
		}
		if up {
			sink(drivers.Observation{VM: vm, Kind: drivers.ObsRunning, Procs: procs,
				Reason: "runs (adopted; no readiness protocol)"})
		}
		if err := d.waitAdopted(ctx, procs.Agent); err != nil {
			return // ctx ended: stop watching, report nothing
		}
		reason := "exited (adopted: exit status unknown)"
		if procs.Agent.IsZero() {
			reason = "no agent recorded"
		}
		sink(drivers.Observation{VM: vm, Kind: drivers.ObsExited, Procs: procs, Code: -1, Reason: reason})
	}()
}

func (d *Driver) watchChild(ctx context.Context, vm string, c *child, procs drivers.Procs, sink func(drivers.Observation)) {
	select {
	case <-c.p.Done():
	default:
		sink(drivers.Observation{VM: vm, Kind: drivers.ObsRunning, Procs: procs,
			Reason: "started (no readiness protocol)"})
	}
	select {
	case <-c.p.Done():
		code, reason := c.p.ExitStatus()
		sink(drivers.Observation{VM: vm, Kind: drivers.ObsExited, Procs: procs, Code: code, Reason: reason, Signal: c.p.ExitSignal()})
	case <-ctx.Done():
	}
}

// waitAdopted waits for an agent that is not our child to exit; nil means it
// did. Should the OS refuse the event-based watch, it checks every
// PollInterval.
func (d *Driver) waitAdopted(ctx context.Context, p drivers.Proc) error {
	if p.IsZero() {
		return nil
	}
	err := WaitExit(ctx, p)
	if err == nil || ctx.Err() != nil {
		return err
	}
	return pollUntil(ctx, p.PID, func() (bool, error) {
		err := Check(p)
		return errors.Is(err, ErrGone), nil
	})
}

// Interrupt sends SIGINT (CTRL_BREAK on Windows) to the agent's group. An
// agent that is gone gives an error wrapping [ErrGone]; Watch reports its
// exit.
func (d *Driver) Interrupt(_ context.Context, vm string, procs drivers.Procs) error {
	if err := Interrupt(procs.Agent); err != nil {
		return fmt.Errorf("vm %q: interrupt: %w", vm, err)
	}
	return nil
}

// Terminate sends SIGTERM to the agent's group (TerminateProcess on
// Windows); it does not wait. An agent that is gone gives an error wrapping
// [ErrGone].
func (d *Driver) Terminate(_ context.Context, vm string, procs drivers.Procs) error {
	if err := Terminate(procs.Agent); err != nil {
		return fmt.Errorf("vm %q: terminate: %w", vm, err)
	}
	return nil
}

// KillTree kills the agent's tree (and the driver process's, if one is
// recorded) and waits, with its own bound, until they are gone.
func (d *Driver) KillTree(ctx context.Context, vm string, procs drivers.Procs) error {
	err := errors.Join(KillTree(ctx, vm, procs.Agent), KillTree(ctx, vm+".driver", procs.VMProcess))
	if err != nil {
		return fmt.Errorf("vm %q: kill tree: %w", vm, err)
	}
	d.mu.Lock()
	if c := d.children[vm]; c != nil && c.p.Proc == procs.Agent {
		delete(d.children, vm)
	}
	d.mu.Unlock()
	return nil
}

// ProcRuns tells, by identity, whether the process recorded as p still runs
// ([Runs]); it reads no pid file ([drivers.ProcReaper]).
func (d *Driver) ProcRuns(_ context.Context, vm string, _ drivers.Spec, p drivers.Proc) (bool, error) {
	ok, err := Runs(p)
	if err != nil {
		return false, fmt.Errorf("vm %q: check pid %d: %w", vm, p.PID, err)
	}
	return ok, nil
}

// KillProc kills the tree recorded as p, by identity ([KillTree]), and
// nothing else ([drivers.ProcReaper]). On Windows, the tree is the Job
// Object p leads: a VM driver process's (named as KillTree names it,
// vm+".driver") or an agent's (vm); with neither, taskkill.
func (d *Driver) KillProc(ctx context.Context, vm string, _ drivers.Spec, p drivers.Proc) error {
	if p.IsZero() {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), KillWait)
	defer cancel()
	if err := killTreeOf(wctx, []string{vm + ".driver", vm}, p); err != nil {
		return fmt.Errorf("vm %q: kill pid %d: %w", vm, p.PID, err)
	}
	return nil
}

// Cleanup removes the run directory's pid file, sockets and temporary files
// (see [RemoveStale]). It refuses, with an error wrapping [ErrAlive], while
// the agent the pid file names still runs.
func (d *Driver) Cleanup(_ context.Context, vm string) error {
	dir, err := d.RunDir(vm)
	if err != nil {
		return err
	}
	d.mu.Lock()
	c := d.children[vm]
	d.mu.Unlock()
	if c != nil {
		select {
		case <-c.p.Done():
		default:
			return fmt.Errorf("vm %q: cleanup: pid %d: %w", vm, c.p.Proc.PID, ErrAlive)
		}
	}
	if p, err := ReadPIDFile(filepath.Join(dir, PIDFile)); err == nil && p.StartTime != 0 {
		switch err := Check(p); {
		case err == nil:
			return fmt.Errorf("vm %q: cleanup: pid %d: %w", vm, p.PID, ErrAlive)
		case !errors.Is(err, ErrGone):
			return fmt.Errorf("vm %q: cleanup: %w", vm, err)
		}
	}
	if err := RemoveStale(dir); err != nil {
		return fmt.Errorf("vm %q: %w", vm, err)
	}
	return nil
}

// Lookup checks the recorded agent, or, with none recorded, the one the pid
// file names, accepted only if it started after since. A live agent is
// Ready (there is no readiness protocol).
func (d *Driver) Lookup(_ context.Context, vm string, _ drivers.Spec, procs drivers.Procs, since time.Time) (drivers.Liveness, drivers.Procs, error) {
	if !procs.Agent.IsZero() {
		switch err := Check(procs.Agent); {
		case err == nil:
			return drivers.Ready, procs, nil
		case errors.Is(err, ErrGone):
			return drivers.Gone, procs, nil
		default:
			return drivers.Gone, procs, fmt.Errorf("vm %q: lookup: %w", vm, err)
		}
	}
	dir, err := d.RunDir(vm)
	if err != nil {
		return drivers.Gone, procs, err
	}
	p, err := ReadPIDFile(filepath.Join(dir, PIDFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return drivers.Gone, procs, nil
	case err != nil:
		return drivers.Gone, procs, fmt.Errorf("vm %q: lookup: %w", vm, err)
	case p.StartTime == 0:
		return drivers.Gone, procs, nil // not ours: no identity to check
	}
	live, err := Identify(p.PID)
	if err == nil {
		err = match(p, live)
	}
	switch {
	case errors.Is(err, ErrGone):
		return drivers.Gone, procs, nil
	case err != nil:
		return drivers.Gone, procs, fmt.Errorf("vm %q: lookup: %w", vm, err)
	}
	at, err := StartedAt(live)
	if err != nil {
		return drivers.Gone, procs, fmt.Errorf("vm %q: lookup: %w", vm, err)
	}
	if at.Add(StartedAtSlack).Before(since) {
		return drivers.Gone, procs, nil // an older process, not the one spawned since
	}
	p.Group = live.Group
	return drivers.Ready, drivers.Procs{Agent: p}, nil
}

// Define makes vm's run directory. A plain command has no definition of
// its own beyond the spec the engine keeps.
func (d *Driver) Define(_ context.Context, vm string, _ drivers.Spec) error {
	dir, err := d.RunDir(vm)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("vm %q: define: %w", vm, err)
	}
	return nil
}

// Remove deletes vm's run directory, logs included. It refuses while the
// pid file names a live agent.
func (d *Driver) Remove(ctx context.Context, vm string) error {
	dir, err := d.RunDir(vm)
	if err != nil {
		return err
	}
	if err := d.Cleanup(ctx, vm); err != nil {
		return fmt.Errorf("vm %q: remove: %w", vm, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("vm %q: remove: %w", vm, err)
	}
	return nil
}

var _ drivers.Locator = (*Driver)(nil)

// Locate names vm's run directory and the agent's output files in it
// (stderr first).
func (d *Driver) Locate(vm string) (drivers.Location, error) {
	dir, err := d.RunDir(vm)
	if err != nil {
		return drivers.Location{}, err
	}
	return drivers.Location{Dir: dir, AgentLogs: []string{filepath.Join(dir, StderrFile), filepath.Join(dir, StdoutFile)}}, nil
}
