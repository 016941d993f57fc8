package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// A stop from outside.
//
// A user who runs `limactl stop NAME` on a VM lifeline runs stops its agent
// without lifeline. The driver reports the agent's exit with its evidence
// that someone else asked for it (Observation.Outside: for Lima, the host
// agent's own log line of the signal it received, or the files
// `limactl stop -f` removes). The engine trusts that evidence only while
// it sent the agent no signal itself, that is while the VM is Starting or
// Running (its own stop is recorded Stopping before the interrupt is
// sent): the exit is then a stop, recorded stopped_outside (→ Stopped, the
// identities cleared), not a crash, and the restart policy does not
// restart it. Without evidence the exit stays what it was: crashed
// (Running) or start_failed (Starting).

// outsideStop reports whether o is the exit of an agent someone else
// stopped, while the VM is in a state where lifeline sent it no signal.
// It needs v.mu.
func outsideStop(v *vm, o drivers.Observation) bool {
	return o.Kind == drivers.ObsExited && o.Outside != "" &&
		(v.head.State == states.Starting || v.head.State == states.Running)
}

// stoppedOutside records that someone else stopped v's agent: stopped_outside
// (→ Stopped, which clears the recorded identities). Nothing is done to
// the OS: the driver reports Outside only once nothing of the VM it knows
// of runs (drivers.Observation), and the runtime files the agent left are
// the next spawn's to clear, as after any stop (they may well be someone
// else's by then: a `limactl start` right after the stop). A record that
// fails is retried as any observation's. It needs v.mu.
func (e *Engine) stoppedOutside(v *vm, o drivers.Observation) {
	v.stopWatch()
	_, _ = e.transition(e.ctx, v, states.StoppedOutside, change{cause: stoppedOutsideCause(v.head.State, o)})
}

// stoppedOutsideCause is the cause of a stopped_outside record: lifeline
// sent no signal while the VM was from, the driver's evidence of who did,
// and how the agent exited.
func stoppedOutsideCause(from states.State, o drivers.Observation) store.Cause {
	return store.Cause{Kind: store.CauseStoppedOutside, Code: o.Code, Signal: o.Signal, Exiting: o.Exiting,
		Detail: fmt.Sprintf("lifeline sent no signal (the VM was %s); %s; %s", from, o.Outside, o.Reason)}
}

// A start or a delete from outside.
//
// A user who runs `limactl start NAME` on a VM lifeline holds Stopped
// starts its agent without lifeline; `limactl delete NAME` removes its
// definition. A driver that can see either (drivers.OutsideFinder) is
// asked every Options.OutsidePoll about each Stopped VM, under the VM's
// lock, so never while lifeline itself starts it (a start is recorded
// Starting, under the same lock, before anything is spawned):
//
//   - an agent that started after the VM's last record and whose VM runs
//     is adopted: adopted (Stopped → Running, the arrow recovery takes for
//     a live agent of a Stopped VM) with both identities and the cause
//     started_outside, and the VM is then watched as any Running VM (a
//     later `limactl stop` is stopped_outside, a crash goes to the restart
//     policy). An agent that started before the last record is an earlier
//     incarnation's and is never adopted.
//   - a definition this engine saw and that is gone is a delete: delete
//     (Stopped → Absent, the user's arrow) with the cause deleted_outside,
//     then the driver's Remove of what is left (the daemon's blank disk),
//     so the name is free, a re-create starts afresh, and the log says who. A definition never seen
//     by this engine (a create whose define failed, a delete while no
//     daemon ran) is not taken for a delete: the next start defines it
//     again.
//
// Nothing is adopted or deleted once Shutdown began or Close was called.

// armOutsidePoll schedules the next look at the Stopped VMs, when the
// driver can tell and the engine polls.
func (e *Engine) armOutsidePoll() {
	if e.opts.OutsidePoll < 0 {
		return
	}
	if _, ok := e.drv.(drivers.OutsideFinder); !ok {
		return
	}
	e.retryAfter(e.opts.OutsidePoll, func() {
		e.PollOutside(e.ctx)
		e.armOutsidePoll()
	})
}

// PollOutside asks the driver once, for each Stopped VM of names (every
// VM when none is named), whether someone else started or deleted it, and
// records what it found (adopted or delete). The engine calls it every
// Options.OutsidePoll; a caller that set it negative (replay's check)
// calls it itself. It does nothing with a driver that cannot tell.
func (e *Engine) PollOutside(ctx context.Context, names ...string) {
	f, ok := e.drv.(drivers.OutsideFinder)
	if !ok {
		return
	}
	e.mu.Lock()
	if e.refuse() != nil {
		e.mu.Unlock()
		return
	}
	vms := e.sortedVMs()
	e.mu.Unlock()
	for _, v := range vms {
		if len(names) > 0 && !slices.Contains(names, v.name) {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		e.pollOutsideVM(ctx, f, v)
	}
}

// pollOutsideVM looks at one VM.
func (e *Engine) pollOutsideVM(ctx context.Context, f drivers.OutsideFinder, v *vm) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.deleted || v.head.State != states.Stopped || v.specErr != nil || e.starting() != nil {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, e.opts.DriverTimeout)
	o, err := f.FindOutside(dctx, v.name, v.spec, v.head.Since)
	cancel()
	if err != nil {
		e.log.Warn().Err(err).Str("vm", v.name).Msg("look for a start or delete from outside")
		return
	}
	switch {
	case o.Deleted:
		if !v.defined {
			return
		}
		e.deletedOutside(ctx, v, o)
	case !o.Procs.Agent.IsZero():
		v.defined = true
		e.adoptOutside(ctx, v, o)
	default:
		v.defined = true
	}
}

// adoptOutside records adopted (→ Running) with the identities someone
// else's start made, and watches the agent. It needs v.mu.
func (e *Engine) adoptOutside(ctx context.Context, v *vm, o drivers.Outside) {
	c := store.Cause{Kind: store.CauseStartedOutside, PID: int64(o.Procs.Agent.PID), VMProcessPID: int64(o.Procs.VMProcess.PID), Detail: o.Evidence}
	if _, err := e.transition(ctx, v, states.Adopted, change{procs: o.Procs, cause: c}); err != nil {
		return // logged; the next poll finds it again
	}
	e.watch(v)
}

// deletedOutside records delete (→ Absent) for a VM whose definition
// someone else removed, and frees its name. It needs v.mu.
func (e *Engine) deletedOutside(ctx context.Context, v *vm, o drivers.Outside) {
	if _, err := e.transition(ctx, v, states.Delete, change{cause: store.Cause{Kind: store.CauseDeletedOutside, Detail: o.Evidence}}); err != nil {
		return // logged; the next poll finds it again
	}
	v.deleted = true
	v.stopWatch()
	// What the driver keeps of the VM beyond the definition someone else
	// removed (the daemon's blank disk) goes too, as after a delete, and
	// before the name is free: a create of the same name later gets
	// files of its own, never this VM's.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.DriverTimeout)
	if err := e.drv.Remove(dctx, v.name); err != nil {
		e.log.Warn().Err(err).Str("vm", v.name).Msg("deleted from outside: remove what is left of its files")
	}
	cancel()
	e.mu.Lock()
	if e.vms[v.name] == v {
		delete(e.vms, v.name)
	}
	e.mu.Unlock()
}

// A start from outside racing lifeline's own.
//
// A user who runs `limactl start NAME` while lifeline starts the same
// Stopped VM starts a second host agent; one of the two gives way (Lima's
// host agent refuses an ha.pid another one holds). When it is lifeline's,
// the driver says so (drivers.StartedOutsideError from Spawn, when the
// other agent was first; Observation.Successor when lifeline's agent
// exited on it) and names the winner. The VM is then not Broken: the
// engine records spawned (Starting, a self-loop that keeps the start
// deadline) with the winner's identity and the cause started_outside, and
// watches it as its start's agent, so the VM ends Running with one
// tracked identity, or start_failed if the winner fails.

// followOutside records that v's start gave way to the agent procs
// someone else started, and watches that agent. It needs v.mu.
func (e *Engine) followOutside(v *vm, procs drivers.Procs, evidence string) {
	c := store.Cause{Kind: store.CauseStartedOutside, PID: int64(procs.Agent.PID), VMProcessPID: int64(procs.VMProcess.PID),
		Detail: "lifeline's start gave way to it: " + evidence}
	if _, err := e.transition(e.ctx, v, states.Spawned, change{procs: procs, deadline: v.head.Deadline, cause: c}); err != nil {
		return // logged; the start deadline ends the start
	}
	e.watch(v)
}
