package recheck

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// specFor is the spec a create or update record stands for. The file keeps
// only each VM's last spec; an older one is known by its hash alone.
func (r *replayer) specFor(rec store.Record) drivers.Spec {
	var spec drivers.Spec
	raw, ok := r.h.specs[rec.VM]
	if !ok {
		r.note("nospec/"+rec.VM, fmt.Sprintf("vm %q has no spec in the file; replayed with an empty one", rec.VM))
		return spec
	}
	if !rec.SpecHash.IsZero() && store.SpecHash(sha256.Sum256(raw)) != rec.SpecHash {
		r.note("oldspec/"+rec.VM, fmt.Sprintf("the spec vm %q had at record #%d is not kept (only its hash); replayed with its last spec", rec.VM, rec.Seq))
	}
	old := !rec.SpecHash.IsZero() && store.SpecHash(sha256.Sum256(raw)) != rec.SpecHash
	if err := json.Unmarshal(raw, &spec); err != nil {
		r.note("badspec/"+rec.VM, fmt.Sprintf("vm %q's spec does not decode (%v); replayed with an empty one", rec.VM, err))
	}
	if err := engine.ValidateSpec(rec.VM, spec); err != nil {
		// Recorded before specs were validated. The fields today's engine
		// refuses had no effect then (an unknown restart policy is none;
		// the scripted driver ignores ready and env): replay without them.
		r.note("invalidspec/"+rec.VM, fmt.Sprintf("vm %q's recorded spec is invalid today (%v); replayed without the invalid fields", rec.VM, err))
		spec = validFields(rec.VM, spec)
	}
	if old {
		if restart, ok := r.restartShown(rec); ok {
			spec.Restart = restart
		}
		if grace, ok := r.graceShown(rec); ok && grace != spec.GracefulTimeout {
			spec.GracefulTimeout = grace
			r.note(fmt.Sprintf("oldgrace/%s/%d", rec.VM, rec.Seq), fmt.Sprintf("graceful %s of %s's record #%d (read off its stops' deadlines)", dur(grace), rec.VM, rec.Seq))
		}
	}
	return spec
}

// graceShown tells the graceful timeout the spec rec (a create or update)
// recorded, read off the deadline of a stop made under it (until the next
// spec or delete) that had no grace of its own (stop --grace). ok is false
// when no such stop shows it. A spec that is not kept (only its hash) is
// replayed with the last one, whose grace may be another: the stops made
// under the older spec keep the grace of their time.
func (r *replayer) graceShown(rec store.Record) (time.Duration, bool) {
	idxs := r.h.byVM[rec.VM]
	j := slices.IndexFunc(idxs, func(i int) bool { return r.h.recs[i].Seq == rec.Seq })
	if j < 0 {
		return 0, false
	}
	for k := j + 1; k < len(idxs); k++ {
		next := r.h.recs[idxs[k]]
		switch {
		case next.Event == states.Create || next.Event == states.Update || next.To == states.Absent:
			return 0, false
		case next.Event == states.Stop && !next.Deadline.IsZero() && next.Cause.Grace == 0:
			// The deadline is taken before the record's time, so it shows
			// a little less than the grace (998ms of a 1s one on a busy
			// machine): never less than the least a spec may hold.
			return max(next.Deadline.Sub(next.Time).Round(time.Millisecond), engine.MinGracefulTimeout), true
		}
	}
	return 0, false
}

// validFields drops what engine.ValidateSpec refuses in spec.
func validFields(vm string, spec drivers.Spec) drivers.Spec {
	if engine.ValidateSpec(vm, drivers.Spec{Restart: spec.Restart}) != nil {
		spec.Restart = ""
	}
	if engine.ValidateSpec(vm, drivers.Spec{Ready: spec.Ready}) != nil {
		spec.Ready = ""
	}
	for k, v := range spec.Env {
		if engine.ValidateSpec(vm, drivers.Spec{Env: map[string]string{k: v}}) != nil {
			delete(spec.Env, k)
		}
	}
	return spec
}

// restartShown tells the restart policy the history shows for the spec
// rec (a create or update) recorded, until the next spec or delete: a
// backoff record means on-failure, a crash or loss of a running VM with
// no backoff after it means none. ok is false when the history shows neither. A spec
// that is not kept (only its hash) is replayed with the last one; its
// restart policy, at least, is known from what the engine did.
func (r *replayer) restartShown(rec store.Record) (string, bool) {
	idxs := r.h.byVM[rec.VM]
	j := slices.IndexFunc(idxs, func(i int) bool { return r.h.recs[i].Seq == rec.Seq })
	if j < 0 {
		return "", false
	}
	for k := j + 1; k < len(idxs); k++ {
		next := r.h.recs[idxs[k]]
		switch {
		case next.Event == states.Create || next.Event == states.Update || next.To == states.Absent:
			return "", false
		case next.Event == states.Backoff:
			// Not a restart: one a backoff before rec scheduled still
			// happens after a spec without the policy.
			return engine.RestartOnFailure, true
		case (next.Event == states.Crashed || next.Event == states.Lost) && next.From == states.Running &&
			k+1 < len(idxs) && r.h.recs[idxs[k+1]].Event != states.Backoff:
			// A failure of a running VM is followed by the policy's
			// backoff when it has one (written by the next boot if the
			// daemon was killed before it could).
			return "no", true
		}
	}
	return "", false
}

// script sets every VM's scripted behaviour from what its history does
// next. An agent never reports running on its own and ignores interrupt
// and terminate: the replay reports running and exits at their recorded
// times. What the history shows of the next spawn (its pid, or its
// failure) and of the next kill (the tree survives, cleanup fails) is set
// ahead, since the engine calls the driver before it writes.
func (r *replayer) script() {
	for vm, idxs := range r.h.byVM {
		future := idxs[r.matched[vm]:]
		b := drivertest.Behavior{NeverRunning: true, IgnoreInterrupt: true, IgnoreTerminate: true, LookupErr: r.lookupErr[vm]}
		rec := func(j int) store.Record { return r.h.recs[future[j]] }
		// The start matched last may not have spawned yet (its spawn is due
		// at once on the virtual clock, after this script): its fate counts.
		// Updates of the Starting VM may come between (commands that took
		// the lock before the spawn).
		pending := future
		for k := r.matched[vm] - 1; k >= 0; k-- {
			last := r.h.recs[idxs[k]]
			if last.Event == states.Start || last.Event == states.Restart {
				pending = idxs[k:]
				break
			}
			if last.Event != states.Update || last.From != states.Starting {
				break
			}
		}
		prec := func(j int) store.Record { return r.h.recs[pending[j]] }
		for j := range pending {
			if ev := prec(j).Event; ev == states.Start || ev == states.Restart {
				n := j + 1
				for n < len(pending) && prec(n).Event == states.Update && prec(n).From == states.Starting {
					n++
				}
				if n < len(pending) && prec(n).Event == states.StartFailed {
					switch c := prec(n).Cause; c.Kind {
					case store.CauseSpawnFailed:
						b.SpawnErr = errors.New(c.Err)
					case store.CauseDefineFailed:
						b.DefineErr = errors.New(c.Err)
					}
				}
				break
			}
		}
		for j := range future {
			if f := rec(j); f.Event == states.Spawned {
				b.SpawnPID = int(f.Agent.PID)
				b.WithVMProcess = !f.VMProcess.IsZero()
				break
			}
		}
	fate:
		for j := range future {
			f := rec(j)
			switch f.Event {
			case states.KillFailed:
				switch f.Cause.Kind {
				case store.CauseKillFailed:
					b.SurviveKill = true
				case store.CauseCleanupFailed:
					b.CleanupErr = errors.New(f.Cause.Err)
				}
				break fate
			case states.Exited, states.StoppedOutside, states.Reset, states.Delete, states.Release, states.Start, states.Restart, states.Create:
				break fate
			}
		}
		if len(future) > 0 && rec(0).Event == states.Restart {
			// The restart policy found nothing of the VM running.
			r.drv.Kill(vm)
		}
		r.drv.Script(vm, b)
	}
}

// prepareRecovery sets the modelled processes up the way the recorded
// boot's recovery found them: an agent it adopted is alive and running,
// one it found gone is gone, a lookup that failed fails.
func (r *replayer) prepareRecovery(boot store.Boot, heads []store.Head) {
	r.lookupErr = make(map[string]error)
	for _, h := range heads {
		if !h.State.Live() || h.State == states.Broken {
			continue
		}
		vm := h.VM
		var ev states.Event
		var cause store.Cause
		var first store.Record // the VM's first record of the boot, by recovery
		if idxs, k := r.h.byVM[vm], r.matched[vm]; k < len(idxs) {
			c := r.h.recs[idxs[k]]
			if c.Boot == boot.Number && !c.Time.After(boot.Started.Add(r.o.Tolerance)) {
				ev, cause, first = c.Event, c.Cause, c
			}
		}
		if ev == states.Spawned && !first.Agent.IsZero() && (h.Agent.IsZero() || h.State.InFlight()) {
			// Recovery found an agent the log did not name yet (the daemon
			// was killed between the spawn and its record) and recorded it,
			// or found a stopping VM's recorded agent alive with more of
			// its processes: the daemon died during the kill, which the
			// replay's model already made.
			r.ensureRecorded(h, false)
		}
		if ev == states.Spawned && !first.VMProcess.IsZero() && h.VMProcess.IsZero() {
			// Recovery found a VM driver process (QEMU) that appeared after
			// the last record, while no daemon watched, and recorded it.
			r.drv.ShowDriver(vm)
		}
		if cause.Kind == store.CauseLookupFailed || cause.Kind == store.CauseRecoveryFailed {
			// The driver's error, as recovery's look-up got it.
			r.lookupErr[vm] = errors.New(cause.Err)
			continue
		}
		switch h.State {
		case states.Stopped:
			if ev == states.Adopted {
				r.ensureAgent(vm, true)
			} else {
				r.drv.Kill(vm)
			}
		case states.Starting, states.Running:
			switch ev {
			case states.Adopted:
				r.ensureAgent(vm, true)
			case states.Spawned:
				r.ensureAgent(vm, false)
			case states.Lost:
				if first.VMProcess.IsZero() {
					r.drv.Kill(vm)
					break
				}
				// The agent is gone and its VM driver process (QEMU) is
				// left, as recovery found them.
				r.ensureAgent(vm, false)
				r.drv.ShowDriver(vm)
				r.drv.Orphan(vm)
			}
		case states.Stopping:
			if ev == states.Exited {
				r.drv.Kill(vm)
			}
		case states.ForceStopping:
			switch {
			case ev == states.Exited && cause.Kind == store.CauseRecoveryGone:
				r.drv.Kill(vm)
			case ev == states.Exited || ev == states.KillFailed:
				// Recovery found the agent alive (the daemon died during the
				// force stop's kill, which took real time) and killed it.
				r.ensureRecorded(h, false)
			}
		}
	}
}

// ensureRecorded makes sure h's VM has a live agent in the model: the one
// its head names, revived when the model ended it (the replay's kill takes
// no time, the recorded daemon died before its own was done), else a new
// one.
func (r *replayer) ensureRecorded(h store.Head, running bool) {
	if !h.Agent.IsZero() && r.drv.Revive(h.VM, h.Agent) {
		if running {
			r.drv.Report(h.VM, drivers.Observation{Kind: drivers.ObsRunning})
		}
		return
	}
	r.ensureAgent(h.VM, running)
}

// ensureAgent makes sure vm has a live agent in the model, running if
// asked.
func (r *replayer) ensureAgent(vm string, running bool) {
	if len(r.drv.Alive(vm)) == 0 {
		r.drv.Start(vm, running)
		return
	}
	if running {
		r.drv.Report(vm, drivers.Observation{Kind: drivers.ObsRunning})
	}
}
