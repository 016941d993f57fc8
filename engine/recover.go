package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// action is what recovery does for one VM, decided by [decide] from the
// logged state and what the driver found. It is a pure table.
type action uint8

const (
	actNothing      action = iota
	actAdopt               // record adopted (→ Running) and watch
	actAwaitRunning        // Starting, agent alive: keep waiting until the recorded deadline
	actLost                // record lost (→ Broken) and reap
	actResumeStop          // Stopping, alive: interrupt again, escalate at the recorded deadline
	actResumeForce         // ForceStopping, alive: kill the tree again
	actFinishStop          // Stopping/ForceStopping, gone: clean up, record exited
)

var actionNames = [...]string{"nothing", "adopt", "await-running", "lost", "resume-stop", "resume-force", "finish-stop"}

func (a action) String() string { return actionNames[a] }

// decide is DESIGN.md's recovery table.
func decide(logged states.State, live drivers.Liveness) action {
	alive := live != drivers.Gone
	switch logged {
	case states.Stopped:
		if alive {
			return actAdopt
		}
	case states.Starting:
		switch live {
		case drivers.Ready:
			return actAdopt
		case drivers.Alive:
			return actAwaitRunning
		default:
			return actLost
		}
	case states.Running:
		if alive {
			return actAdopt
		}
		return actLost
	case states.Stopping:
		if alive {
			return actResumeStop
		}
		return actFinishStop
	case states.ForceStopping:
		if alive {
			return actResumeForce
		}
		return actFinishStop
	}
	return actNothing
}

// recoverAll recovers vms in parallel, at most RecoveryParallelism at once.
func (e *Engine) recoverAll(ctx context.Context, vms []*vm) {
	sem := make(chan struct{}, e.opts.RecoveryParallelism)
	var wg sync.WaitGroup
	for _, v := range vms {
		if v.head.State == states.Broken {
			e.publishSnapshot(v)
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				v.mu.Lock()
				defer v.mu.Unlock()
				e.recoverBroken(ctx, v)
			}()
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			v.mu.Lock()
			defer v.mu.Unlock()
			e.publishSnapshot(v)
			if err := e.recoverVM(ctx, v); err != nil {
				e.log.Error().Err(err).Str("vm", v.name).Stringer("state", v.head.State).Msg("recovery failed")
				e.markBroken(v, err)
			}
		}()
	}
	wg.Wait()
}

// lostRunning tells whether v's last record, a lost, is the loss of a
// Running VM (the restart policy's case), not of a Starting one.
func (e *Engine) lostRunning(v *vm) bool {
	running := false
	_ = e.st.VMRecords(v.name, v.head.VMSeq, func(r store.Record) error {
		running = r.Event == states.Lost && r.From == states.Running
		return nil
	})
	return running
}

// recoverBroken recovers a Broken VM. It needs v.mu.
//
// Its reap may not have finished (the daemon died in the middle of the
// kill, with Lima's agent group frozen, or the kill failed, or it died
// between the crash's record and the reap): what it recorded and still
// runs, by identity, is reaped first (reapLeftovers). Then the restart
// policy: a crash (or the loss of the running VM, as in a host reboot)
// whose decision is not recorded (the daemon died in between) is decided
// now; a restart the policy scheduled before is still due, at its
// recorded time. The reap comes first, under the VM's lock, which a
// restart's timer waits for; a daemon killed during it decides again at
// its next start.
func (e *Engine) recoverBroken(ctx context.Context, v *vm) {
	e.reapLeftovers(ctx, v)
	if v.head.Event == states.Crashed || (v.head.Event == states.Lost && e.lostRunning(v)) {
		e.afterCrashRetrying(v)
		return
	}
	if !v.head.Deadline.IsZero() {
		e.armRestart(v)
	}
}

// reapLeftovers reaps what a Broken VM recorded and still runs: a recorded
// agent that still runs (the driver's Lookup, by identity) with its whole
// tree, as the crash's reap would have; else, its agent gone, a recorded VM
// driver process (Lima's QEMU, which outlives its agent) that the driver
// says still runs by identity ([drivers.ProcReaper]), and that process
// only. A dead one is left alone: what the instance's files name now may
// be someone else's (a QEMU a user started since with limactl). A driver
// that cannot tell leaves the QEMU; the restart then finds it and gives up
// (restart_given_up), as before. Nothing is recorded: the VM stays Broken,
// and the daemon's log says what was killed. It needs v.mu.
func (e *Engine) reapLeftovers(ctx context.Context, v *vm) {
	procs := v.procs()
	if !procs.Agent.IsZero() {
		lctx, cancel := context.WithTimeout(ctx, e.opts.DriverTimeout)
		live, _, err := e.drv.Lookup(lctx, v.name, v.spec, procs, v.head.Since)
		cancel()
		if err != nil {
			e.log.Warn().Err(err).Str("vm", v.name).Int("pid", procs.Agent.PID).Msg("recover: could not look up a Broken VM's recorded agent; not reaped")
			return
		}
		if live != drivers.Gone {
			e.log.Warn().Str("vm", v.name).Int("pid", procs.Agent.PID).Msg("recover: a Broken VM's recorded agent still runs; reaping it")
			e.reap(v)
			return
		}
	}
	if procs.VMProcess.IsZero() {
		return
	}
	r, ok := e.drv.(drivers.ProcReaper)
	if !ok {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, e.opts.DriverTimeout)
	runs, err := r.ProcRuns(lctx, v.name, v.spec, procs.VMProcess)
	cancel()
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return
	case err != nil:
		e.log.Warn().Err(err).Str("vm", v.name).Int("driver", procs.VMProcess.PID).Msg("recover: could not check a Broken VM's recorded VM driver process; not reaped")
		return
	case !runs:
		return
	}
	e.log.Warn().Str("vm", v.name).Int("pid", procs.Agent.PID).Int("driver", procs.VMProcess.PID).Stringer("event", v.head.Event).
		Msg("recover: a Broken VM's recorded VM driver process still runs, its agent gone; killing it")
	v.stopWatch()
	kctx, kcancel := e.driverCtx()
	defer kcancel()
	if err := r.KillProc(kctx, v.name, v.spec, procs.VMProcess); err != nil {
		e.log.Error().Err(err).Str("vm", v.name).Int("driver", procs.VMProcess.PID).Msg("recover: kill the left-over VM driver process; it may still run, and a restart gives up while it does: kill that pid, then `lifeline reset` the VM")
		return
	}
	if err := e.drv.Cleanup(kctx, v.name); err != nil {
		e.log.Error().Err(err).Str("vm", v.name).Msg("recover: cleanup after the left-over VM driver process")
	}
}

func (e *Engine) publishSnapshot(v *vm) {
	v.snapMu.Lock()
	v.snap = VM{Name: v.name, Head: v.view(), Spec: v.spec}
	v.snapMu.Unlock()
}

// recoverVM needs v.mu.
func (e *Engine) recoverVM(ctx context.Context, v *vm) error {
	procs := v.procs()
	lctx, cancel := context.WithTimeout(ctx, e.opts.DriverTimeout)
	live, found, err := e.drv.Lookup(lctx, v.name, v.spec, procs, e.lastStart(v))
	cancel()
	if err != nil {
		return &lookupError{pid: procs.Agent.PID, err: err}
	}
	act := decide(v.head.State, live)
	restart := e.updateRestartPending(v)
	rl := e.log.Info().Str("vm", v.name).Stringer("state", v.head.State).Stringer("found", live)
	if found.Agent.PID != 0 {
		rl = rl.Int("pid", found.Agent.PID)
	}
	rl.Stringer("action", act).Msg("recover")
	// A driver that found the agent through its own files (the crash fell
	// between spawn and its record) tells who it is; record it.
	// Only what it names beyond the log is new: a driver that finds less
	// than the log names (no QEMU) records nothing.
	newProcs := drivers.Procs{}
	if live != drivers.Gone {
		merged := procs
		if !found.Agent.IsZero() {
			merged.Agent = found.Agent
		}
		if !found.VMProcess.IsZero() {
			merged.VMProcess = found.VMProcess
		}
		if merged != procs {
			newProcs = merged
		}
	}
	if restart && v.head.State.InFlight() {
		v.restartAfterStop = true // the stop goes on, then the start
		v.restartResumed = true
	}
	switch act {
	case actNothing:
		if restart && v.head.State == states.Stopped {
			_, err := e.startLocked(v, states.Start, store.Cause{Kind: store.CauseUpdateResumed})
			return err
		}
	case actAdopt:
		if _, err := e.transition(ctx, v, states.Adopted, change{procs: newProcs, cause: store.Cause{Kind: store.CauseRecoveryAlive, PID: int64(v.procs().Agent.PID)}}); err != nil {
			return err
		}
		e.watch(v)
	case actAwaitRunning:
		if !newProcs.IsZero() {
			if _, err := e.transition(ctx, v, states.Spawned, change{procs: newProcs, deadline: v.head.Deadline}); err != nil {
				return err
			}
		}
		e.armStartDeadline(v)
		e.watch(v)
	case actLost:
		// The agent is gone, but the driver may have found what it left
		// (an orphaned QEMU): record it, so the reap that follows, and the
		// log, name it.
		c := change{cause: e.goneCause(procs.Agent.PID)}
		if !found.VMProcess.IsZero() {
			c.procs.VMProcess = found.VMProcess
			c.cause.VMProcessPID = int64(found.VMProcess.PID)
		}
		e.failWith(v, states.Lost, c)
	case actResumeStop:
		if !newProcs.IsZero() {
			// Found through the driver's files: record it before signalling.
			if _, err := e.transition(ctx, v, states.Spawned, change{procs: newProcs, deadline: v.head.Deadline, cause: foundCause(procs, newProcs)}); err != nil {
				return err
			}
		}
		e.interrupt(v)
	case actResumeForce:
		if !newProcs.IsZero() {
			if _, err := e.transition(ctx, v, states.Spawned, change{procs: newProcs, deadline: v.head.Deadline, cause: foundCause(procs, newProcs)}); err != nil {
				return err
			}
		}
		e.killTree(v, store.Cause{Kind: store.CauseForceStopResumed})
	case actFinishStop:
		e.finishStop(v, store.Cause{Kind: store.CauseRecoveryGone, PID: int64(procs.Agent.PID)})
	}
	return nil
}

// foundCause is the cause of the spawned record recovery writes for what
// the driver found beyond the log (recorded): the agent itself, whose
// spawn was never recorded, or, the agent recorded, only its VM driver
// process (Lima's QEMU, which appeared after the last record).
func foundCause(recorded, found drivers.Procs) store.Cause {
	if !recorded.Agent.IsZero() && found.Agent == recorded.Agent {
		return store.Cause{Kind: store.CauseFoundUnrecorded, VMProcessPID: int64(found.VMProcess.PID)}
	}
	return store.Cause{Kind: store.CauseFoundUnrecorded, PID: int64(found.Agent.PID)}
}

// hostRebooted tells whether the host rebooted since the previous daemon
// ran: both boot ids are known and differ.
func (e *Engine) hostRebooted() bool {
	return e.opts.PrevHostBootID != "" && e.opts.HostBootID != "" && e.opts.PrevHostBootID != e.opts.HostBootID
}

// goneCause is why recovery found a live VM's agent (pid) gone: the host
// rebooted, which took every process with it, or the agent vanished while
// no daemon watched.
func (e *Engine) goneCause(pid int) store.Cause {
	if e.hostRebooted() {
		return store.Cause{Kind: store.CauseHostRebooted, PID: int64(pid),
			Detail: fmt.Sprintf("boot id %s, now %s", e.opts.PrevHostBootID, e.opts.HostBootID)}
	}
	return store.Cause{Kind: store.CauseRecoveryGone, PID: int64(pid)}
}

// loadStale reads back, from the log's tail, which identities of v's head
// belong to an earlier incarnation: those no record since the VM's last
// start or restart names (a restart keeps the crashed incarnation's in the
// head). Open calls it for each live VM before recovery, so that recovery
// neither looks up nor signals them, and a watch identifies the new VM
// driver process instead of trusting the old one's.
func (e *Engine) loadStale(v *vm) {
	if v.head.Agent.IsZero() && v.head.VMProcess.IsZero() {
		return
	}
	from := uint64(1)
	if v.head.VMSeq > lastStartTail {
		from = v.head.VMSeq - lastStartTail
	}
	started, agent, driver := false, false, false
	err := e.st.VMRecords(v.name, from, func(r store.Record) error {
		switch {
		case r.To == states.Starting && r.From != states.Starting:
			started, agent, driver = true, false, false
		case started:
			agent = agent || (!r.Agent.IsZero() && r.Agent == v.head.Agent)
			driver = driver || (!r.VMProcess.IsZero() && r.VMProcess == v.head.VMProcess)
		}
		return nil
	})
	if err != nil || !started {
		return // no start in the tail: the identities are the ones it recorded
	}
	if !agent {
		v.staleAgent = v.head.Agent
	}
	if !driver {
		v.staleVMProcess = v.head.VMProcess
	}
}

// lookupError is a recovery's failed look-up of a VM's agent.
type lookupError struct {
	pid int
	err error
}

func (e *lookupError) Error() string { return fmt.Sprintf("look up agent pid %d: %v", e.pid, e.err) }
func (e *lookupError) Unwrap() error { return e.err }

// markBroken records that a VM could not be recovered (err), with whichever
// event the table allows from its state. A Stopped VM stays Stopped.
func (e *Engine) markBroken(v *vm, err error) {
	cause := store.Cause{Kind: store.CauseRecoveryFailed, Err: err.Error()}
	var le *lookupError
	if errors.As(err, &le) {
		cause = store.Cause{Kind: store.CauseLookupFailed, PID: int64(le.pid), Err: le.err.Error()}
	}
	var ev states.Event
	switch v.head.State {
	case states.Starting, states.Running:
		ev = states.Lost
	case states.Stopping, states.ForceStopping:
		ev = states.KillFailed
	default:
		return
	}
	_, _ = e.transition(e.ctx, v, ev, change{cause: cause})
}

// updateTail is how many of a VM's last records updateRestartPending
// reads: an update's restart is update, stop, then at most spawned,
// stop_timeout, spawned, exited.
const updateTail = 8

// updateRestartPending tells whether the VM's log ends in the middle of a
// restart that Update started for a Running VM: an update self-loop in
// Running directly followed by a stop (only Update writes that pair), and
// no start since. The restart intent is thereby in the log, and a daemon
// that crashed during that stop carries it out. Only Stopping,
// ForceStopping and Stopped-by-exited VMs can be in that case.
func (e *Engine) updateRestartPending(v *vm) bool {
	switch {
	case v.head.State == states.Stopping, v.head.State == states.ForceStopping:
	case v.head.State == states.Stopped && v.head.Event == states.Exited:
	default:
		return false
	}
	from := uint64(1)
	if v.head.VMSeq > updateTail {
		from = v.head.VMSeq - updateTail + 1
	}
	pending := false
	var prev store.Record
	_ = e.st.VMRecords(v.name, from, func(r store.Record) error {
		switch {
		case r.Event == states.Stop && prev.Event == states.Update && prev.From == states.Running:
			pending = true
		case r.Event == states.Start, r.Event == states.Restart, r.Event == states.KillFailed, r.To == states.Absent:
			pending = false
		}
		prev = r
		return nil
	})
	return pending
}
