package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// vm is one VM's machine. mu serialises every command, observation and
// timer of the VM; the head it guards is also published (under snapMu) for
// readers that must not wait on a slow driver call.
type vm struct {
	name string

	mu      sync.Mutex
	head    store.Head
	spec    drivers.Spec
	specErr error
	// epoch grows each time the VM enters a new state (self-loops do not
	// count); timers carry the epoch they were made in and do nothing when
	// it moved on.
	epoch       uint64
	timer       Timer
	watchCancel context.CancelFunc
	watchEpoch  uint64 // epoch of the agent the current watch follows
	obs         obsQueue
	deleted     bool
	// defined: a look for a delete from outside (outside.go) found the
	// VM's definition, so its disappearance later is a delete.
	defined bool

	// staleAgent and staleVMProcess are identities the head still holds from
	// an earlier incarnation of the VM: a restart (Broken → Starting) keeps
	// the crashed one's, since [store.Head.Apply] only clears identities
	// on entering Stopped or Absent. They name nothing of the incarnation
	// now starting, so the engine neither acts on them nor shows them (see
	// procs and view); a record that names a new identity ends them.
	staleAgent, staleVMProcess store.Proc

	// restartAfterStop: a spec update stopped this Running VM; start it
	// again once it is Stopped. The log holds the same intent (an update in
	// Running directly followed by a stop), which recovery reads back
	// (updateRestartPending).
	restartAfterStop bool
	// restartResumed: restartAfterStop was read back from the log by
	// recovery, so the start carries out the update of a daemon that died
	// (CauseUpdateResumed).
	restartResumed bool
	// recordErr is the error of the latest failed append of the step
	// (observation, deadline) being handled; see retry.go.
	recordErr error

	snapMu sync.Mutex
	snap   VM
	// What waits for a retry because its record failed (retry.go): an
	// observation, a deadline's decision. Guarded by snapMu.
	unrecordedObs, unrecordedDeadline string
	// What the agent reported wrong while Running (VM.AgentError), until
	// the VM leaves Running. Guarded by snapMu.
	agentErr   string
	agentErrAt time.Time
	degraded   bool
}

func (v *vm) snapshot() VM {
	v.snapMu.Lock()
	defer v.snapMu.Unlock()
	s := v.snap
	s.Name = v.name
	s.Unrecorded = joinNonEmpty(v.unrecordedObs, v.unrecordedDeadline)
	s.AgentError, s.AgentErrorAt, s.Degraded = v.agentErr, v.agentErrAt, v.degraded
	return s
}

func (v *vm) stopTimer() {
	if v.timer != nil {
		v.timer.Stop()
		v.timer = nil
	}
}

// stopWatch ends the current watch. Observations it already queued are
// dropped: they carry the old watch epoch.
func (v *vm) stopWatch() {
	if v.watchCancel != nil {
		v.watchCancel()
		v.watchCancel = nil
	}
	v.watchEpoch++
}

// procs returns the identities of the current incarnation recorded in the
// head.
func (v *vm) procs() drivers.Procs {
	h := v.view()
	return drivers.Procs{Agent: h.Agent, VMProcess: h.VMProcess}
}

// view is the head without identities of an earlier incarnation: what the
// engine acts on and what snapshots show.
func (v *vm) view() store.Head {
	h := v.head
	if !h.Agent.IsZero() && h.Agent == v.staleAgent {
		h.Agent = store.Proc{}
	}
	if !h.VMProcess.IsZero() && h.VMProcess == v.staleVMProcess {
		h.VMProcess = store.Proc{}
	}
	return h
}

// newIncarnation marks the identities the head holds as an earlier
// incarnation's. It is called when the VM enters Starting from another
// state (start, restart).
func (v *vm) newIncarnation() {
	v.staleAgent, v.staleVMProcess = v.head.Agent, v.head.VMProcess
}

// change is what a transition records besides its event.
type change struct {
	procs    drivers.Procs
	deadline time.Time
	cause    store.Cause
	spec     []byte
}

// transition records ev for v and, once it is durable, makes it v's state.
// It needs v.mu. Nothing is done to the OS here: callers start effects
// only after transition returned nil.
func (e *Engine) transition(ctx context.Context, v *vm, ev states.Event, c change) (store.Record, error) {
	from := v.head.State
	to, err := states.Next(from, ev)
	if err != nil {
		return store.Record{}, &RejectedError{VM: v.name, State: from, Event: ev}
	}
	rec := store.Record{
		VM:        v.name,
		Event:     ev,
		From:      from,
		To:        to,
		Time:      e.clock.Now().UTC(),
		Agent:     c.procs.Agent,
		VMProcess: c.procs.VMProcess,
		Deadline:  c.deadline,
		Cause:     c.cause,
	}
	rec, err = e.st.Append(context.WithoutCancel(ctx), store.Write{Record: rec, Spec: c.spec})
	if err != nil {
		e.appendFailed(v, err)
		e.log.Error().Err(err).Str("vm", v.name).Stringer("event", ev).Stringer("from", from).Stringer("to", to).Msg("record transition")
		e.pub.resync()
		return store.Record{}, fmt.Errorf("vm %q: %s: record %s→%s: %w", v.name, ev, from, to, err)
	}
	e.appendSucceeded(v, from != to)
	v.head = v.head.Apply(rec)
	if from != to {
		// A new state: what was pending for the old one is void. A
		// self-loop (spawned, adopted, update) keeps its deadline running.
		v.epoch++
		v.stopTimer()
	}
	if to == states.Starting && from != states.Starting {
		v.newIncarnation()
	}
	if to == states.Broken || to == states.Absent {
		// An update's restart ends with its stop: a stop that ended
		// Broken voids it, as updateRestartPending reads the log.
		v.restartAfterStop, v.restartResumed = false, false
	}
	v.snapMu.Lock()
	v.snap = VM{Name: v.name, Head: v.view(), Spec: v.spec}
	if from != to {
		v.agentErr, v.agentErrAt, v.degraded = "", time.Time{}, false
	}
	v.snapMu.Unlock()
	logTransition(e.log, rec)
	e.pub.publish(rec)
	return rec, nil
}

// arm schedules f at deadline (or at once if it passed), for the current
// epoch only. When a record f makes fails, f runs again after a backoff
// (retry.go). It needs v.mu.
func (e *Engine) arm(v *vm, deadline time.Time, f func(v *vm)) {
	e.armTry(v, deadline, f, 0)
}

// armTry is arm for the try-th retry of f.
func (e *Engine) armTry(v *vm, deadline time.Time, f func(v *vm), try int) {
	v.stopTimer()
	epoch := v.epoch
	d := deadline.Sub(e.clock.Now())
	if d < 0 {
		d = 0
	}
	v.timer = e.clock.AfterFunc(d, func() {
		e.goEffect(func() {
			v.mu.Lock()
			defer v.mu.Unlock()
			if v.epoch != epoch || e.ctx.Err() != nil {
				return
			}
			v.timer = nil
			e.runDeadline(v, f, try)
		})
	})
}

// transitionLevel is how loud a record is in the daemon's log: a failure
// (kill_failed) is an error; a crash, a lost agent, a failed start and a
// forced stop are warnings; everything else is the normal course (info).
func transitionLevel(ev states.Event) zerolog.Level {
	switch ev {
	case states.KillFailed:
		return zerolog.ErrorLevel
	case states.Crashed, states.Lost, states.StartFailed, states.StopTimeout, states.ForceStop:
		return zerolog.WarnLevel
	}
	return zerolog.InfoLevel
}

// logTransition logs a record at its event's level, with no empty
// fields: a pid only when the record names an agent, a cause and a reason
// only when it has them.
func logTransition(log zerolog.Logger, rec store.Record) {
	ev := log.WithLevel(transitionLevel(rec.Event)).Str("vm", rec.VM).Uint64("seq", rec.Seq).Stringer("event", rec.Event).Stringer("from", rec.From).Stringer("to", rec.To).Uint64("boot", rec.Boot)
	if rec.Agent.PID != 0 {
		ev = ev.Int("pid", rec.Agent.PID)
	}
	if rec.Cause.Kind != store.CauseNone {
		ev = ev.Stringer("cause", rec.Cause.Kind)
	}
	if rec.Reason != "" {
		ev = ev.Str("reason", rec.Reason)
	}
	ev.Msg("transition")
}
