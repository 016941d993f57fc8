package drivertest

import "github.com/lifeline-vm/lifeline/drivers"

// Report makes vm's live agent report o now, as the agent or the OS would,
// and reports whether vm had a live agent to report it. Together with a
// clock the test controls, it scripts observations at exact times (a
// replay of a recorded history does this):
//
//   - ObsRunning marks the agent running (a later Watch or Lookup sees it
//     up) and tells its watchers.
//   - ObsExited ends the agent, as [Driver.Exit] does, but with o.Code,
//     o.Reason and o.Outside (someone else stopped it, see
//     [Driver.StopOutside]) passed on verbatim.
//   - ObsFailed and ObsIdentity are passed on as they are; the agent stays
//     alive.
//
// o.VM is set to vm; a zero o.Procs is set to the agent's identities. The
// call is recorded (Op "Report", Extra the kind) like every other.
func (d *Driver) Report(vm string, o drivers.Observation) bool {
	d.mu.Lock()
	var p *proc
	for _, q := range d.procs {
		if q.vm == vm && q.alive && !q.unrelated && (p == nil || q.id.StartTime > p.id.StartTime) {
			p = q
		}
	}
	if p == nil {
		d.finish(Call{Op: "Report", VM: vm, Extra: o.Kind.String() + " gone"})
		return false
	}
	o.VM = vm
	if o.Procs.IsZero() {
		o.Procs = drivers.Procs{Agent: p.id, VMProcess: p.drvProc}
	}
	var notify func()
	switch o.Kind {
	case drivers.ObsExited:
		notify = d.endLocked(p, o, o.Reason)
	default:
		if o.Kind == drivers.ObsRunning {
			p.running = true
		}
		ws := append([]watcher(nil), p.watchers...)
		notify = func() {
			for _, w := range ws {
				if w.ctx.Err() == nil {
					w.sink(o)
				}
			}
		}
	}
	d.finish(Call{Op: "Report", VM: vm, PID: p.id.PID, Extra: o.Kind.String()})
	run([]func(){notify})
	return true
}
