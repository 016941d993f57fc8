package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Import, release and autostart: lifeline beside Lima's own tools.
//
// Import takes over a VM someone else made with the driver's own tools
// (`limactl create`, `limactl start`): the driver (drivers.Importer) reads
// its definition as the spec and tells whether it runs. The spec is
// checked as a create's before anything is recorded; then the engine
// records create (Absent → Stopped, cause imported) and, for a VM that
// runs, adopted (Stopped → Running, cause imported) with both identities,
// and watches it as any Running VM. The definition is not written again
// (no Define): nothing of the instance changes.
//
// Release is the reverse: release (Stopped, Running or Broken → Absent,
// cause released) forgets the VM without stopping anything or removing a
// file; the name is free, and since the VM is no longer live, neither
// recovery nor the look for a start from outside ever adopts it again.
//
// Autostart: at Open, once every VM is recovered, each Stopped VM whose
// spec says Autostart is started (start, cause autostart), and so is one
// the host's reboot left Broken, after a reset, unless its restart policy
// brings it back itself.

// Import takes over vm, which the driver knows and lifeline does not: see
// above. over sets the spec's Ready, Restart, GracefulTimeout and
// Autostart (the rest comes from the driver). It returns the last record
// written (adopted for a VM that runs, else create).
func (e *Engine) Import(ctx context.Context, name string, over drivers.Spec) (store.Record, error) {
	im, ok := e.drv.(drivers.Importer)
	if !ok {
		return store.Record{}, fmt.Errorf("vm %q: import: the driver cannot take over a VM made outside lifeline: %w", name, errors.ErrUnsupported)
	}
	if err := ValidateName(name); err != nil {
		return store.Record{}, err
	}
	if cur, err := e.Get(name); err == nil {
		return store.Record{}, fmt.Errorf("vm %q: import: lifeline already runs it (%s since seq %d); nothing was recorded (`lifeline release %s` first to import it again): %w",
			name, cur.State, cur.Seq, name, ErrExists)
	}
	dctx, cancel := context.WithTimeout(ctx, e.opts.DriverTimeout)
	spec, found, err := im.FindInstance(dctx, name)
	cancel()
	if err != nil {
		if errors.Is(err, drivers.ErrNotFound) {
			return store.Record{}, fmt.Errorf("vm %q: import: %w (is it in the daemon's LIMA_HOME? `limactl list` shows the instances): %w", name, err, ErrNotFound)
		}
		return store.Record{}, fmt.Errorf("vm %q: import: %w", name, err)
	}
	if over.Ready != "" {
		spec.Ready = over.Ready
	}
	if over.Restart != "" {
		spec.Restart = over.Restart
	}
	if over.GracefulTimeout != 0 {
		spec.GracefulTimeout = over.GracefulTimeout
	}
	spec.Autostart = spec.Autostart || over.Autostart
	// Nothing invalid reaches the log: an instance lifeline could not
	// run is refused before anything is recorded.
	if err := e.ValidateSpec(name, spec); err != nil {
		return store.Record{}, fmt.Errorf("vm %q: import refused, nothing was recorded: %w", name, err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return store.Record{}, fmt.Errorf("vm %q: import: encode spec: %w", name, err)
	}
	e.mu.Lock()
	if err := e.refuse(); err != nil {
		e.mu.Unlock()
		return store.Record{}, fmt.Errorf("vm %q: import: %w", name, err)
	}
	if _, ok := e.vms[name]; ok {
		e.mu.Unlock()
		return store.Record{}, fmt.Errorf("vm %q: import: lifeline already runs it; nothing was recorded: %w", name, ErrExists)
	}
	// Reserved before its record commits, as a create's.
	v := &vm{name: name, spec: spec}
	v.mu.Lock()
	e.vms[name] = v
	e.mu.Unlock()
	defer v.mu.Unlock()

	created := store.Cause{Kind: store.CauseImported, Detail: "the definition made outside lifeline is the spec, left as it is"}
	rec, err := e.transition(ctx, v, states.Create, change{spec: raw, cause: created})
	if err != nil {
		e.mu.Lock()
		delete(e.vms, name)
		e.mu.Unlock()
		return store.Record{}, err
	}
	v.defined = true // its definition exists: its removal later is a delete from outside
	if found.Procs.Agent.IsZero() {
		return rec, nil
	}
	c := store.Cause{Kind: store.CauseImported, PID: int64(found.Procs.Agent.PID), VMProcessPID: int64(found.Procs.VMProcess.PID), Detail: found.Evidence}
	arec, err := e.transition(ctx, v, states.Adopted, change{procs: found.Procs, cause: c})
	if err != nil {
		// Recorded Stopped: the look for a start from outside finds the
		// agent at its next poll only if it started after the create;
		// say so rather than pretend.
		return rec, fmt.Errorf("vm %q: imported Stopped (seq %d), but its running agent (pid %d) could not be recorded; `lifeline release %s` and import it again: %w",
			name, rec.Seq, found.Procs.Agent.PID, name, err)
	}
	e.watch(v)
	return arec, nil
}

// Instances lists the VMs the driver finds a definition of that lifeline
// does not run (candidates for Import), sorted.
func (e *Engine) Instances(ctx context.Context) ([]string, error) {
	im, ok := e.drv.(drivers.Importer)
	if !ok {
		return nil, fmt.Errorf("import: the driver cannot list VMs made outside lifeline: %w", errors.ErrUnsupported)
	}
	dctx, cancel := context.WithTimeout(ctx, e.opts.DriverTimeout)
	names, err := im.Instances(dctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("import: list the driver's VMs: %w", err)
	}
	out := names[:0:0]
	for _, n := range names {
		if _, err := e.Get(n); errors.Is(err, ErrNotFound) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Release forgets a Stopped, Running or Broken VM and leaves it to the
// driver's own tools as it is: see above. A VM on its way (Starting,
// Stopping, ForceStopping) is refused until it settles.
func (e *Engine) Release(ctx context.Context, name string) (store.Record, error) {
	return e.locked(name, func(v *vm) (store.Record, error) {
		procs := v.procs()
		c := store.Cause{Kind: store.CauseReleased, PID: int64(procs.Agent.PID), VMProcessPID: int64(procs.VMProcess.PID)}
		rec, err := e.transition(ctx, v, states.Release, change{cause: c})
		if err != nil {
			return rec, err
		}
		v.deleted = true
		v.stopWatch()
		v.stopTimer()
		e.mu.Lock()
		if e.vms[name] == v {
			delete(e.vms, name)
		}
		e.mu.Unlock()
		return rec, nil
	})
}

// autostart starts every VM whose spec says Autostart, once recovery is
// done (Open): a Stopped one, and one the host's reboot left Broken (lost,
// cause host_rebooted) that the restart policy does not bring back
// itself: it is reset first (nothing of it runs after a reboot; the
// driver checks), then started, both records with the cause autostart.
func (e *Engine) autostart() {
	e.mu.Lock()
	vms := e.sortedVMs()
	e.mu.Unlock()
	auto := store.Cause{Kind: store.CauseAutostart}
	for _, v := range vms {
		v.mu.Lock()
		if !v.deleted && v.specErr == nil && v.spec.Autostart {
			if e.lostToReboot(v) {
				if err := e.ensureNothingRuns(e.ctx, v, "autostart"); err != nil {
					e.log.Warn().Err(err).Str("vm", v.name).Msg("autostart: not reset after the host reboot")
				} else if _, err := e.transition(e.ctx, v, states.Reset, change{cause: auto}); err != nil {
					e.log.Warn().Err(err).Str("vm", v.name).Msg("autostart: reset after the host reboot")
				}
			}
			if v.head.State == states.Stopped {
				if _, err := e.startLocked(v, states.Start, auto); err != nil {
					e.log.Warn().Err(err).Str("vm", v.name).Msg("autostart")
				}
			}
		}
		v.mu.Unlock()
	}
}

// lostToReboot tells whether v is Broken because the host rebooted under
// it and the restart policy will not start it again. It needs v.mu.
func (e *Engine) lostToReboot(v *vm) bool {
	return v.head.State == states.Broken && v.head.Event == states.Lost &&
		v.head.Cause.Kind == store.CauseHostRebooted && v.spec.Restart != RestartOnFailure
}
