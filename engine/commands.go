package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// requested is the cause of a user's command.
var requested = store.Cause{Kind: store.CauseRequested}

// Every command returns the record it wrote: its Seq is where a caller
// waiting for what follows (Subscribe, WaitFor) starts.

// Create defines a VM in state Stopped with spec.
func (e *Engine) Create(ctx context.Context, name string, spec drivers.Spec) (store.Record, error) {
	// Nothing invalid reaches the log: the name, the spec's fields and the
	// driver's own check come before the record.
	if err := e.ValidateSpec(name, spec); err != nil {
		return store.Record{}, err
	}
	if err := e.madeOutside(ctx, name, spec); err != nil {
		return store.Record{}, err
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return store.Record{}, fmt.Errorf("vm %q: create: encode spec: %w", name, err)
	}
	e.mu.Lock()
	if err := e.refuse(); err != nil {
		e.mu.Unlock()
		return store.Record{}, fmt.Errorf("vm %q: create: %w", name, err)
	}
	if _, ok := e.vms[name]; ok {
		e.mu.Unlock()
		return store.Record{}, fmt.Errorf("vm %q: create: %w", name, ErrExists)
	}
	// The VM is reserved in the map before its record commits so that two
	// creates of one name cannot both pass; it is removed again on failure.
	v := &vm{name: name, spec: spec} // Absent; a re-created VM continues its log in the store
	v.mu.Lock()
	e.vms[name] = v
	e.mu.Unlock()
	defer v.mu.Unlock()

	rec, err := e.transition(ctx, v, states.Create, change{spec: raw, cause: requested})
	if err != nil {
		e.mu.Lock()
		delete(e.vms, name)
		e.mu.Unlock()
		return store.Record{}, err
	}
	// The definition on disk follows the record. If writing it fails the VM
	// still exists (the record is durable); every start defines it again.
	return rec, e.define(ctx, v)
}

// madeOutside refuses a create of a name lifeline does not know but its
// driver does (an instance `limactl create` made, or one `lifeline release`
// left to Lima): the create's definition would overwrite the instance's
// own (its lima.yaml), which `lifeline import` takes over as it is.
func (e *Engine) madeOutside(ctx context.Context, name string, spec drivers.Spec) error {
	im, ok := e.drv.(drivers.Importer)
	if !ok || spec.DriverName() != drivers.DefaultDriver {
		return nil // only the default driver's definitions can be imported
	}
	if _, err := e.Get(name); err == nil {
		return nil // known: the create is refused as such (ErrExists)
	}
	dctx, cancel := context.WithTimeout(ctx, e.opts.DriverTimeout)
	defer cancel()
	_, _, err := im.FindInstance(dctx, name)
	switch {
	case errors.Is(err, drivers.ErrNotFound):
		return nil
	case err == nil:
		return fmt.Errorf("vm %q: create: an instance of that name was made outside lifeline (limactl create, or a release) and a create would overwrite its definition; nothing was recorded: `lifeline import %s` takes it over as it is, `limactl delete %s` removes it: %w", name, name, name, ErrExists)
	default:
		// Its definition is there but cannot be read, or its processes
		// are half there: it is not lifeline's to overwrite either.
		return fmt.Errorf("vm %q: create: an instance of that name exists outside lifeline (%v); nothing was recorded: `limactl delete %s` removes it: %w", name, err, name, ErrExists)
	}
}

// define writes v's spec where the driver keeps it. It needs v.mu.
func (e *Engine) define(ctx context.Context, v *vm) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.DriverTimeout)
	defer cancel()
	if err := e.drv.Define(dctx, v.name, v.spec); err != nil {
		return fmt.Errorf("vm %q: define: %w", v.name, err)
	}
	return nil
}

// locked looks name up and runs f under its lock. Once Shutdown began or
// Close was called, it refuses (ErrShuttingDown, ErrClosed).
func (e *Engine) locked(name string, f func(v *vm) (store.Record, error)) (store.Record, error) {
	if err := e.starting(); err != nil {
		return store.Record{}, fmt.Errorf("vm %q: %w", name, err)
	}
	v, err := e.lookup(name)
	if err != nil {
		return store.Record{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.deleted {
		return store.Record{}, fmt.Errorf("vm %q: %w", name, ErrNotFound)
	}
	return f(v)
}

// Update records a new spec for a VM. A Stopped or Broken VM only gets its
// definition rewritten. A Running VM is stopped and started again to apply
// it; that stop waits the longer of the old and the new spec's graceful
// timeout. A VM on its way (Starting, Stopping, ForceStopping) keeps going; the
// spec applies at its next start.
func (e *Engine) Update(ctx context.Context, name string, spec drivers.Spec) (store.Record, error) {
	// A VM's driver never changes, in any state: the old driver's
	// definition and the recorded processes are its own. An update that
	// names no driver keeps the VM's (checked again under the lock).
	if cur, err := e.Get(name); err == nil {
		if spec.Driver == "" {
			spec.Driver = cur.Spec.Driver
		}
		if err := driverKept(name, cur.Spec, spec); err != nil {
			return store.Record{}, err
		}
	}
	// An invalid spec is refused before anything is recorded or stopped: a
	// typo never stops a Running VM.
	if err := e.ValidateSpec(name, spec); err != nil {
		return store.Record{}, err
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return store.Record{}, fmt.Errorf("vm %q: update: encode spec: %w", name, err)
	}
	return e.locked(name, func(v *vm) (store.Record, error) {
		if err := driverKept(name, v.spec, spec); err != nil {
			return store.Record{}, err
		}
		old := v.spec
		v.spec = spec
		// A self-loop keeps the state's deadline: a Stopping VM still
		// escalates at its graceful deadline, also after a daemon crash.
		rec, err := e.transition(ctx, v, states.Update, change{spec: raw, cause: requested, deadline: v.head.Deadline})
		if err != nil {
			v.spec = old
			return rec, err
		}
		v.specErr = nil
		switch v.head.State {
		case states.Stopped, states.Broken:
			return rec, e.define(ctx, v)
		case states.Running:
			// The stop of the running incarnation waits the longer of
			// the old and the new graceful timeout: the new spec applies
			// from the next start, so one that lowers it does not cut
			// short the shutdown of a guest started under the old one,
			// and one that raises it gives that guest the longer one.
			deadline := e.clock.Now().Add(max(e.GracefulTimeout(old), e.GracefulTimeout(spec))).UTC()
			if _, err := e.transition(ctx, v, states.Stop, change{cause: store.Cause{Kind: store.CauseUpdate}, deadline: deadline}); err != nil {
				return rec, err // no stop recorded: no restart intent either
			}
			v.restartAfterStop, v.restartResumed = true, false
			e.interrupt(v)
		}
		return rec, nil
	})
}

// driverKept refuses an update of a VM's spec to another driver. A spec
// that names no driver names the default one: "" and "lima" are the same.
func driverKept(name string, old, spec drivers.Spec) error {
	if spec.DriverName() == old.DriverName() {
		return nil
	}
	return &InvalidSpecError{VM: name, Field: "driver", Problem: fmt.Sprintf(
		"%q: the vm runs on driver %q, and a vm's driver never changes (delete the vm and create it again)", spec.Driver, old.Driver)}
}

// Start moves a Stopped VM to Starting and spawns its agent in the
// background. It returns once Starting (with its deadline) is durable.
func (e *Engine) Start(ctx context.Context, name string) (store.Record, error) {
	return e.locked(name, func(v *vm) (store.Record, error) { return e.startLocked(v, states.Start, requested) })
}

// startLocked records Starting (by start or restart) and spawns the agent
// in the background. It needs v.mu.
func (e *Engine) startLocked(v *vm, ev states.Event, cause store.Cause) (store.Record, error) {
	if err := e.starting(); err != nil {
		// A restart due now stays in the log (the backoff's deadline, the
		// update followed by its stop) for the next Open to carry out.
		e.log.Info().Str("vm", v.name).Stringer("event", ev).Stringer("cause", cause.Kind).Err(err).Msg("not started")
		return store.Record{}, fmt.Errorf("vm %q: %s: %w", v.name, ev, err)
	}
	deadline := e.clock.Now().Add(e.opts.StartTimeout).UTC()
	rec, err := e.transition(e.ctx, v, ev, change{deadline: deadline, cause: cause})
	if err != nil {
		return rec, err
	}
	e.armStartDeadline(v)
	// The spawn is due at once, on the engine's clock: a command that takes
	// the VM's lock first (a stop right after the start) voids it, and a
	// replay on a virtual clock decides which came first, as its history
	// says.
	epoch := v.epoch
	e.clock.AfterFunc(0, func() {
		e.goEffect(func() {
			v.mu.Lock()
			defer v.mu.Unlock()
			if v.epoch == epoch && e.ctx.Err() == nil {
				e.spawn(v)
			}
		})
	})
	return rec, nil
}

// StopOptions tune Stop.
type StopOptions struct {
	// Force kills the tree at once instead of interrupting the agent.
	Force bool
	// Reason, when set, is the caller's note, recorded with the stop (the
	// cause is a request, its Detail the note).
	Reason string
	// Grace, when set, replaces the VM's graceful timeout for this stop
	// only (MinGracefulTimeout..MaxGracefulTimeout; not with Force).
	Grace time.Duration

	// cause replaces the request's cause (the daemon's shutdown).
	cause store.Cause
}

// Stop asks a VM to stop. Without Force, the agent is interrupted and has
// the graceful timeout to exit before it is force-stopped. It returns as
// soon as Stopping (or ForceStopping) is durable.
func (e *Engine) Stop(ctx context.Context, name string, o StopOptions) (store.Record, error) {
	return e.locked(name, func(v *vm) (store.Record, error) { return e.stopLocked(ctx, v, o) })
}

// stopLocked is Stop for a VM whose lock is held.
func (e *Engine) stopLocked(ctx context.Context, v *vm, o StopOptions) (store.Record, error) {
	// A bad grace is refused before anything is recorded.
	if o.Grace != 0 {
		if o.Force {
			return store.Record{}, fmt.Errorf("vm %q: stop: a grace period (%s) and force exclude each other: drop one (nothing was recorded): %w", v.name, o.Grace, ErrInvalidStop)
		}
		if p := graceProblem(o.Grace); p != "" {
			return store.Record{}, fmt.Errorf("vm %q: stop: grace %s (nothing was recorded): %w", v.name, p, ErrInvalidStop)
		}
	}
	cause := o.cause
	if cause.IsZero() {
		cause = store.Cause{Kind: store.CauseRequested, Detail: o.Reason}
	}
	if o.Force {
		rec, err := e.transition(ctx, v, states.ForceStop, change{cause: cause})
		if err != nil {
			return rec, err
		}
		// The kill is due at once on the engine's clock, like a start's
		// spawn: a replay on a virtual clock lets a command the history
		// shows first (an update) take the lock before it.
		epoch := v.epoch
		e.clock.AfterFunc(0, func() {
			e.goEffect(func() {
				v.mu.Lock()
				defer v.mu.Unlock()
				if v.epoch == epoch && e.ctx.Err() == nil {
					e.killTree(v, cause)
				}
			})
		})
		return rec, nil
	}
	// A stop's own grace is recorded in its cause: the record says it was
	// asked for, and a replay gives it again.
	grace := o.Grace
	if grace == 0 {
		grace = e.gracefulTimeout(v)
	} else if cause.Kind == store.CauseRequested {
		cause.Grace = grace
	}
	deadline := e.clock.Now().Add(grace).UTC()
	rec, err := e.transition(ctx, v, states.Stop, change{cause: cause, deadline: deadline})
	if err != nil {
		return rec, err
	}
	e.interrupt(v)
	return rec, nil
}

// gracefulTimeout is how long v's agent has to exit after a graceful stop
// (see GracefulTimeout). It needs v.mu.
func (e *Engine) gracefulTimeout(v *vm) time.Duration { return e.GracefulTimeout(v.spec) }

// GracefulTimeout is how long the agent of a VM with spec has to exit after
// a graceful stop: the spec's GracefulTimeout; else Options.GracefulTimeout
// when it was given (the daemon's --graceful-timeout, for every driver);
// else the default of the spec's driver ([drivers.GraceDefaulter]: Lima's
// host agent 3m30s); else DefaultGracefulTimeout (30s, a command VM's).
func (e *Engine) GracefulTimeout(spec drivers.Spec) time.Duration {
	if spec.GracefulTimeout > 0 {
		return spec.GracefulTimeout
	}
	if !e.graceGiven {
		if g, ok := e.drv.(drivers.GraceDefaulter); ok {
			if d := g.DefaultGracefulTimeout(spec); d > 0 {
				return d
			}
		}
	}
	return e.opts.GracefulTimeout
}

// Reset clears a Broken VM back to Stopped, after checking that none of its
// recorded processes still runs and cleaning its files.
func (e *Engine) Reset(ctx context.Context, name string) (store.Record, error) {
	return e.locked(name, func(v *vm) (store.Record, error) {
		if v.head.State != states.Broken {
			return store.Record{}, &RejectedError{VM: name, State: v.head.State, Event: states.Reset}
		}
		if err := e.ensureNothingRuns(ctx, v, "reset"); err != nil {
			return store.Record{}, err
		}
		return e.transition(ctx, v, states.Reset, change{cause: requested})
	})
}

// Delete removes a Stopped or Broken VM from the live set. Its log stays.
// The delete record clears the recorded identities before anything else,
// so no pid of the VM can be signalled later; then the driver removes its
// files, still under the VM's lock and before the name is free again: a VM's
// files belong to one incarnation.
func (e *Engine) Delete(ctx context.Context, name string) (store.Record, error) {
	return e.locked(name, func(v *vm) (store.Record, error) {
		switch v.head.State {
		case states.Stopped:
		case states.Broken:
			if err := e.ensureNothingRuns(ctx, v, "delete"); err != nil {
				return store.Record{}, err
			}
		default:
			return store.Record{}, &RejectedError{VM: name, State: v.head.State, Event: states.Delete}
		}
		rec, err := e.transition(ctx, v, states.Delete, change{cause: requested})
		if err != nil {
			return rec, err
		}
		v.deleted = true
		v.stopWatch()
		// The name stays taken until the files are gone: a create of the
		// same name meanwhile is refused (it exists), so this cleanup can
		// never remove a later VM's files.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.DriverTimeout)
		err = e.drv.Remove(dctx, name)
		cancel()
		e.mu.Lock()
		if e.vms[name] == v {
			delete(e.vms, name)
		}
		e.mu.Unlock()
		if err != nil {
			return rec, fmt.Errorf("vm %q: deleted, but its files remain: %w", name, err)
		}
		return rec, nil
	})
}

// ensureNothingRuns checks a Broken VM's recorded processes and cleans its
// files. It needs v.mu.
func (e *Engine) ensureNothingRuns(ctx context.Context, v *vm, cmd string) error {
	procs := v.procs()
	dctx, cancel := context.WithTimeout(ctx, e.opts.DriverTimeout)
	defer cancel()
	live, _, err := e.drv.Lookup(dctx, v.name, v.spec, procs, e.lastStart(v))
	if err != nil {
		return fmt.Errorf("vm %q: %s: look up agent pid %d: %w", v.name, cmd, procs.Agent.PID, err)
	}
	if live != drivers.Gone {
		return fmt.Errorf("vm %q: %s: agent pid %d is %s: %w (stop --force first)", v.name, cmd, procs.Agent.PID, live, ErrStillAlive)
	}
	if err := e.drv.Cleanup(dctx, v.name); err != nil {
		return fmt.Errorf("vm %q: %s: cleanup: %w", v.name, cmd, err)
	}
	return nil
}
