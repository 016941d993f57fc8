package drivertest

import (
	"context"
	"fmt"
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
