package drivertest

import (
	"context"
	"fmt"

	"github.com/lifeline-vm/lifeline/drivers"
)

var _ drivers.ProcReaper = (*Driver)(nil)

// ProcRuns tells whether the process recorded as p runs with its identity:
// a live agent, a live agent's VM driver process once it appeared, or an
// orphaned VM driver process (see [Driver.Orphan]). A process that merely
// holds p's pid (see [Driver.ReplaceOrphan], [Driver.Recycle]) is not p.
func (d *Driver) ProcRuns(ctx context.Context, vm string, spec drivers.Spec, p drivers.Proc) (bool, error) {
	d.mu.Lock()
	if err := d.behaviors[vm].LookupErr; err != nil {
		d.finish(Call{Op: "ProcRuns", VM: vm, Driver: p.PID, Err: err})
		return false, err
	}
	runs := d.runsLocked(p)
	d.finish(Call{Op: "ProcRuns", VM: vm, Driver: p.PID, Extra: fmt.Sprintf("runs=%t", runs)})
	return runs, nil
}

// runsLocked: see ProcRuns. It needs d.mu.
func (d *Driver) runsLocked(p drivers.Proc) bool {
	if p.IsZero() {
		return false
	}
	if o, ok := d.orphans[p.PID]; ok && o.id == p {
		return true
	}
	if d.match(p) != nil {
		return true
	}
	for _, q := range d.procs {
		if q.alive && !q.unrelated && q.drvShown && q.drvProc == p {
			return true
		}
	}
	return false
}

// KillProc kills exactly the process recorded as p, if it runs with its
// identity: an orphaned VM driver process goes; a live agent, or the agent
// whose VM driver process p is, ends with its tree (its watchers are told).
// Nothing else is touched. With SurviveKill scripted it fails.
func (d *Driver) KillProc(ctx context.Context, vm string, spec drivers.Spec, p drivers.Proc) error {
	d.mu.Lock()
	if !d.runsLocked(p) {
		d.finish(Call{Op: "KillProc", VM: vm, Driver: p.PID, Extra: "gone"})
		return nil
	}
	if d.behaviors[vm].SurviveKill {
		err := fmt.Errorf("kill pid %d: %w", p.PID, ErrSurvived)
		d.finish(Call{Op: "KillProc", VM: vm, Driver: p.PID, Err: err})
		return err
	}
	var notify []func()
	if o, ok := d.orphans[p.PID]; ok && o.id == p {
		delete(d.orphans, p.PID)
	}
	for _, q := range d.procs {
		if q.alive && !q.unrelated && (q.id == p || (q.drvShown && q.drvProc == p)) {
			notify = append(notify, d.exitLocked(q, -9, "killed"))
		}
	}
	d.finish(Call{Op: "KillProc", VM: vm, Driver: p.PID, Extra: "killed"})
	run(notify)
	return nil
}

// ReplaceOrphan makes vm's orphaned VM driver process (see [Driver.Orphan])
// die silently and another one take its pid, with a later start time, as
// when someone started the VM's QEMU again (limactl start) after the
// recorded one died and qemu.pid names the new one. It returns the new
// process's identity (zero if vm has no orphan). The new process is an
// orphan too: Lookup reports it, Cleanup refuses while it lives, and
// KillTree kills it only when given its identity.
func (d *Driver) ReplaceOrphan(vm string) drivers.Proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	for pid, o := range d.orphans {
		if o.vm == vm {
			d.starts++
			o.id = drivers.Proc{PID: pid, StartTime: d.starts, Group: pid}
			d.orphans[pid] = o
			return o.id
		}
	}
	return drivers.Proc{}
}
