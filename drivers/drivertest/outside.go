package drivertest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

var _ drivers.OutsideFinder = (*Driver)(nil)

// StartOutside makes a live, running agent of vm with a VM driver process,
// without a Spawn call, as `limactl start NAME` makes one: FindOutside
// finds it when it started after the since it is given. It returns its
// identities.
func (d *Driver) StartOutside(vm string) drivers.Procs {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.newProc(vm)
	p.running = true
	d.starts++
	p.drvProc = drivers.Proc{PID: d.freePID(), StartTime: d.starts, BootID: "scripted"}
	p.drvProc.Group = p.drvProc.PID
	p.drvShown = true
	return drivers.Procs{Agent: p.id, VMProcess: p.drvProc}
}

// DeleteOutside removes vm's definition, as `limactl delete NAME` does:
// FindOutside reports it Deleted until the next Define.
func (d *Driver) DeleteOutside(vm string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.undefined == nil {
		d.undefined = make(map[string]bool)
	}
	d.undefined[vm] = true
}

// FindOutside reports vm Deleted after DeleteOutside (until a Define),
// else the newest live, running agent of vm that started at or after
// since, with its VM driver process once it has appeared. It records no
// Call: the engine asks it every few seconds, and call logs stay those of
// the VM's lifecycle. With LookupErr scripted it fails.
func (d *Driver) FindOutside(ctx context.Context, vm string, spec drivers.Spec, since time.Time) (drivers.Outside, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.looks == nil {
		d.looks = make(map[string]int)
	}
	d.looks[vm]++
	if err := d.behaviors[vm].LookupErr; err != nil {
		return drivers.Outside{}, err
	}
	if d.undefined[vm] {
		return drivers.Outside{Deleted: true, Evidence: fmt.Sprintf("the definition of %s is gone", vm)}, nil
	}
	var p *proc
	for _, q := range d.procs {
		if q.vm == vm && q.alive && q.running && !q.unrelated && !q.started.Before(since) && (p == nil || q.id.StartTime > p.id.StartTime) {
			p = q
		}
	}
	if p == nil {
		return drivers.Outside{}, nil
	}
	o := drivers.Outside{Procs: drivers.Procs{Agent: p.id}, Evidence: fmt.Sprintf("agent pid %d started at %s, after %s", p.id.PID, p.started.UTC().Format(time.RFC3339Nano), since.UTC().Format(time.RFC3339Nano))}
	if p.drvShown {
		o.Procs.VMProcess = p.drvProc
	}
	return o, nil
}

// OutsideLooks is how many times FindOutside was asked about vm: a test
// waits for a look that began after some change (two more than it saw
// before it) instead of sleeping a guessed number of the engine's looks.
func (d *Driver) OutsideLooks(vm string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.looks[vm]
}

var _ drivers.Importer = (*Driver)(nil)

// MakeOutside makes a definition of vm with spec, as `limactl create NAME`
// makes one, for FindInstance and Instances to find; StartOutside then
// runs it.
func (d *Driver) MakeOutside(vm string, spec drivers.Spec) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.instances == nil {
		d.instances = make(map[string]drivers.Spec)
	}
	d.instances[vm] = spec
	delete(d.undefined, vm)
}

// Instances lists the VMs MakeOutside made, sorted. It records no Call.
func (d *Driver) Instances(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.instances))
	for vm := range d.instances {
		out = append(out, vm)
	}
	slices.Sort(out)
	return out, nil
}

// FindInstance returns the spec MakeOutside gave vm and, when one runs,
// its newest live, running agent (FindOutside since the zero time). A VM
// MakeOutside did not make is drivers.ErrNotFound. It records no Call,
// like FindOutside: it only reads.
func (d *Driver) FindInstance(ctx context.Context, vm string) (drivers.Spec, drivers.Outside, error) {
	d.mu.Lock()
	spec, ok := d.instances[vm]
	d.mu.Unlock()
	if !ok {
		return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: no definition made outside: %w", vm, drivers.ErrNotFound)
	}
	o, err := d.FindOutside(ctx, vm, spec, time.Time{})
	return spec, o, err
}

// GiveWay models `limactl start NAME` winning a race with lifeline's start
// of vm: the agent someone else started holds ha.pid, so vm's newest live
// agent (lifeline's, not up yet) exits 1, and the exit is reported with
// the winner, live and running with a VM driver process, as
// Observation.Successor. It returns the winner's identities; zero when vm
// has no live agent.
func (d *Driver) GiveWay(vm string) drivers.Procs {
	d.mu.Lock()
	var p *proc
	for _, q := range d.procs {
		if q.vm == vm && q.alive && !q.unrelated && (p == nil || q.id.StartTime > p.id.StartTime) {
			p = q
		}
	}
	if p == nil {
		d.mu.Unlock()
		return drivers.Procs{}
	}
	w := d.newProc(vm)
	w.running = true
	d.starts++
	w.drvProc = drivers.Proc{PID: d.freePID(), StartTime: d.starts, BootID: "scripted"}
	w.drvProc.Group = w.drvProc.PID
	w.drvShown = true
	won := drivers.Procs{Agent: w.id, VMProcess: w.drvProc}
	reason := "exit status 1: pidfile in use"
	notify := d.endLocked(p, drivers.Observation{VM: vm, Kind: drivers.ObsExited, Procs: drivers.Procs{Agent: p.id, VMProcess: p.drvProc},
		Code: 1, Reason: reason + fmt.Sprintf("; ha.pid names host agent pid %d, started by someone else (limactl start)", w.id.PID), Successor: won}, reason)
	d.finish(Call{Op: "GiveWay", VM: vm, PID: p.id.PID})
	if notify != nil {
		notify()
	}
	return won
}
