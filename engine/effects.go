package engine

import (
	"errors"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// This file holds what the engine does to the OS after a record is
// durable. Every function here needs v.mu and is only called right after
// the transition that justifies it, or by recovery for a state the log
// already holds.

// spawn runs the agent of a VM that just entered Starting, records its
// identity, and watches it. The start deadline is armed by the caller.
func (e *Engine) spawn(v *vm) {
	if v.specErr != nil {
		e.failUnspawned(v, store.Cause{Kind: store.CauseSpecInvalid, Err: v.specErr.Error()})
		return
	}
	ctx, cancel := e.driverCtx()
	err := e.drv.Define(ctx, v.name, v.spec)
	if err != nil {
		cancel()
		e.failUnspawned(v, store.Cause{Kind: store.CauseDefineFailed, Err: err.Error()})
		return
	}
	procs, err := e.drv.Spawn(ctx, v.name, v.spec)
	cancel()
	var outside *drivers.StartedOutsideError
	if errors.As(err, &outside) {
		e.followOutside(v, outside.Procs, outside.Evidence) // outside.go
		return
	}
	if err != nil {
		e.failUnspawned(v, store.Cause{Kind: store.CauseSpawnFailed, Err: err.Error()})
		return
	}
	deadline := v.head.Deadline
	if _, err := e.transition(e.ctx, v, states.Spawned, change{procs: procs, deadline: deadline}); err != nil {
		// The agent runs but its identity is not in the log. Its record is
		// retried after a backoff like an observation's (retry.go), and the
		// watch starts once it is written. A stop
		// meanwhile finds the agent through the driver (discover), and so
		// does recovery after a crash.
		e.log.Error().Err(err).Str("vm", v.name).Int("pid", procs.Agent.PID).Msg("agent spawned, identity not recorded: kept for a retry")
		e.retryIdentity(v, procs, 1, err)
		return
	}
	// The start deadline armed with the start record keeps running: a
	// self-loop does not void it.
	e.watch(v)
}

// failUnspawned records start_failed for a start that spawned nothing,
// and kills only what the log named for the VM's previous incarnation (an
// orphan of it in the way of the spawn), by identity. It is not reaped
// like other failures: with no agent recorded, the driver's KillTree
// kills whatever runs the instance, and what runs when a spawn is refused
// may well be someone else's (a user's limactl, another daemon sharing
// LIMA_HOME). It needs v.mu.
func (e *Engine) failUnspawned(v *vm, cause store.Cause) {
	if _, err := e.transition(e.ctx, v, states.StartFailed, change{cause: cause}); err != nil {
		return
	}
	old := drivers.Procs{Agent: v.staleAgent, VMProcess: v.staleVMProcess}
	if old.Agent.IsZero() {
		return
	}
	ctx, cancel := e.driverCtx()
	defer cancel()
	if err := e.drv.KillTree(ctx, v.name, old); err != nil {
		e.log.Error().Err(err).Str("vm", v.name).Int("pid", old.Agent.PID).Msg("start failed: kill the previous incarnation's processes")
	}
}

func (e *Engine) armStartDeadline(v *vm) {
	e.arm(v, v.head.Deadline, func(v *vm) {
		if v.head.State != states.Starting {
			return
		}
		e.fail(v, states.StartFailed, store.Cause{Kind: store.CauseStartDeadline, Deadline: v.head.Deadline})
	})
}

// observe handles one thing the driver saw.
func (e *Engine) observe(v *vm, o drivers.Observation) {
	log := e.log.With().Str("vm", v.name).Stringer("obs", o.Kind).Str("reason", o.Reason).Logger()
	if outsideStop(v, o) {
		e.stoppedOutside(v, o) // outside.go
		return
	}
	switch v.head.State {
	case states.Starting:
		switch o.Kind {
		case drivers.ObsRunning:
			_, _ = e.transition(e.ctx, v, states.EventRunning, change{})
		case drivers.ObsExited:
			if !o.Successor.Agent.IsZero() {
				e.followOutside(v, o.Successor, o.Reason) // outside.go
				return
			}
			e.fail(v, states.StartFailed, exitCause(o))
		case drivers.ObsFailed:
			e.fail(v, states.StartFailed, store.Cause{Kind: store.CauseAgentError, Err: o.Reason})
		case drivers.ObsIdentity:
			if o.Procs != v.procs() {
				_, _ = e.transition(e.ctx, v, states.Spawned, change{procs: o.Procs, deadline: v.head.Deadline})
			}
		}
	case states.Running:
		switch o.Kind {
		case drivers.ObsExited:
			e.fail(v, states.Crashed, exitCause(o))
		case drivers.ObsFailed:
			// No transition: the VM runs. Status shows it until the VM
			// leaves Running.
			log.Warn().Bool("degraded", o.Degraded).Msg("agent reported an error while running")
			v.snapMu.Lock()
			v.agentErr, v.agentErrAt, v.degraded = o.Reason, e.clock.Now(), o.Degraded
			v.snapMu.Unlock()
		case drivers.ObsIdentity:
			log.Warn().Int("pid", o.Procs.VMProcess.PID).Msg("a process appeared after running; not recorded")
		}
	case states.Stopping, states.ForceStopping:
		switch o.Kind {
		case drivers.ObsExited:
			e.finishStop(v, exitCause(o))
		case drivers.ObsIdentity:
			// A VM driver process that appeared after a stop recorded
			// during Starting runs until the stop ends it: the log (and
			// so status) names it meanwhile. The self-loop keeps the
			// stop's deadline.
			cur := v.procs()
			if o.Procs != cur && (cur.Agent.IsZero() || o.Procs.Agent == cur.Agent) {
				_, _ = e.transition(e.ctx, v, states.Spawned, change{procs: o.Procs, deadline: v.head.Deadline, cause: store.Cause{Kind: store.CauseAppeared, PID: int64(o.Procs.Agent.PID), VMProcessPID: int64(o.Procs.VMProcess.PID)}})
			}
		}
	default:
		log.Debug().Stringer("state", v.head.State).Msg("observation ignored")
	}
}

// fail records ev (start_failed, crashed, lost) and then makes sure nothing
// of the VM is left running: a Broken VM holds no processes lifeline could
// have stopped.
func (e *Engine) fail(v *vm, ev states.Event, cause store.Cause) {
	e.failWith(v, ev, change{cause: cause})
}

// exitCause is the cause of an agent's exit the driver observed.
func exitCause(o drivers.Observation) store.Cause {
	return store.Cause{Kind: store.CauseAgentExit, Code: o.Code, Signal: o.Signal, Exiting: o.Exiting, PID: int64(o.Procs.Agent.PID), Detail: o.Reason}
}

// failWith is fail with more to record than a cause (the processes
// recovery found).
func (e *Engine) failWith(v *vm, ev states.Event, c change) {
	from := v.head.State
	if _, err := e.transition(e.ctx, v, ev, c); err != nil {
		return
	}
	// The restart policy's decision is recorded before the reap, which
	// can take a while: a daemon killed during it leaves the restart in
	// the log. The restart itself waits for the VM's lock, so for the reap.
	if from == states.Running {
		e.afterCrashRetrying(v)
	}
	e.reap(v)
}

// reap kills whatever is left of a Broken VM's tree and cleans its files,
// best effort: the head keeps the identities, so Reset and Delete check
// again and a force-stop can retry.
func (e *Engine) reap(v *vm) {
	v.stopWatch()
	ctx, cancel := e.driverCtx()
	defer cancel()
	procs := v.procs()
	if err := e.drv.KillTree(ctx, v.name, procs); err != nil {
		e.log.Error().Err(err).Str("vm", v.name).Int("pid", procs.Agent.PID).Msg("reap: kill tree")
		return
	}
	if err := e.drv.Cleanup(ctx, v.name); err != nil {
		e.log.Error().Err(err).Str("vm", v.name).Msg("reap: cleanup")
	}
}

// lastStart is the bound for Lookup's discovery: when v was last started
// (its latest start or restart record), since an agent a driver finds
// without a recorded identity must have started after it. Only the log's
// tail is read, and only when no agent is recorded; otherwise, and for a
// VM with no start in its tail, it is the head's time.
func (e *Engine) lastStart(v *vm) time.Time {
	since := v.head.Since
	if !v.procs().Agent.IsZero() {
		return since // a recorded identity needs no bound
	}
	from := uint64(1)
	if v.head.VMSeq > lastStartTail {
		from = v.head.VMSeq - lastStartTail
	}
	_ = e.st.VMRecords(v.name, from, func(r store.Record) error {
		if r.Event == states.Start || r.Event == states.Restart {
			since = r.Time
		}
		return nil
	})
	return since
}

// lastStartTail is how many records lastStart reads back: a start is
// followed by a handful of records before anything looks for its agent.
const lastStartTail = 64

// discover finds the agent of a VM whose log names none, although it is
// on its way down (Stopping, ForceStopping): its spawned record was lost
// (the store failed, or the daemon crashed right after the spawn). The
// driver finds it through its own files, accepting only a process started
// after the VM's last record, and the identity is recorded before anything
// is sent to it. It needs v.mu.
func (e *Engine) discover(v *vm) {
	if !v.procs().Agent.IsZero() {
		return
	}
	ctx, cancel := e.driverCtx()
	live, found, err := e.drv.Lookup(ctx, v.name, v.spec, drivers.Procs{}, e.lastStart(v))
	cancel()
	if err != nil || live == drivers.Gone || found.Agent.IsZero() {
		return
	}
	_, _ = e.transition(e.ctx, v, states.Spawned, change{procs: found, deadline: v.head.Deadline, cause: store.Cause{Kind: store.CauseFoundUnrecorded, PID: int64(found.Agent.PID)}})
}

// interrupt sends the graceful stop and arms the graceful deadline. The
// Stopping record (with its deadline) is already durable.
func (e *Engine) interrupt(v *vm) {
	e.discover(v)
	procs := v.procs()
	if procs.Agent.IsZero() {
		e.finishStop(v, store.Cause{Kind: store.CauseNoAgent})
		return
	}
	e.watch(v)
	ctx, cancel := e.driverCtx()
	err := e.drv.Interrupt(ctx, v.name, procs)
	cancel()
	var interruptErr string
	if err != nil {
		e.log.Warn().Err(err).Str("vm", v.name).Int("pid", procs.Agent.PID).Msg("interrupt")
		interruptErr = err.Error()
	}
	e.arm(v, v.head.Deadline, func(v *vm) {
		if v.head.State != states.Stopping {
			return
		}
		cause := store.Cause{Kind: store.CauseGracefulDeadline, Deadline: v.head.Deadline, PID: int64(v.procs().Agent.PID), Err: interruptErr}
		if _, err := e.transition(e.ctx, v, states.StopTimeout, change{cause: cause, deadline: e.clock.Now().Add(e.opts.TerminateGrace).UTC()}); err == nil {
			e.terminate(v)
		}
	})
}

// terminate is the first step of ForceStopping after a missed graceful
// deadline: SIGTERM, then the tree kill when the terminate grace passes.
func (e *Engine) terminate(v *vm) {
	procs := v.procs()
	e.watch(v)
	ctx, cancel := e.driverCtx()
	err := e.drv.Terminate(ctx, v.name, procs)
	cancel()
	if err != nil {
		e.log.Warn().Err(err).Str("vm", v.name).Int("pid", procs.Agent.PID).Msg("terminate")
	}
	e.arm(v, v.head.Deadline, func(v *vm) {
		if v.head.State == states.ForceStopping {
			e.killTree(v, store.Cause{Kind: store.CauseTerminateDeadline, PID: int64(procs.Agent.PID)})
		}
	})
}

// killTree ends ForceStopping: kill every process, clean up, and record
// where the VM ended, and why (the exited record's cause).
func (e *Engine) killTree(v *vm, why store.Cause) {
	e.discover(v)
	v.stopWatch()
	ctx, cancel := e.driverCtx()
	defer cancel()
	procs := v.procs()
	if err := e.drv.KillTree(ctx, v.name, procs); err != nil {
		_, _ = e.transition(e.ctx, v, states.KillFailed, change{cause: store.Cause{Kind: store.CauseKillFailed, Err: err.Error()}})
		return
	}
	if err := e.drv.Cleanup(ctx, v.name); err != nil {
		_, _ = e.transition(e.ctx, v, states.KillFailed, change{cause: store.Cause{Kind: store.CauseCleanupFailed, Err: err.Error()}})
		return
	}
	if _, err := e.transition(e.ctx, v, states.Exited, change{cause: why}); err != nil {
		return
	}
	if v.restartAfterStop {
		kind := store.CauseUpdate
		if v.restartResumed {
			kind = store.CauseUpdateResumed
		}
		v.restartAfterStop, v.restartResumed = false, false
		_, _ = e.startLocked(v, states.Start, store.Cause{Kind: kind})
	}
}

// finishStop ends a stop whose agent exited: make sure the whole tree is
// gone (a driver child may outlive its agent), clean up, record Stopped.
func (e *Engine) finishStop(v *vm, why store.Cause) {
	e.killTree(v, why)
}
