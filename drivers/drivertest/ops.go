package drivertest

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

var _ drivers.Driver = (*Driver)(nil)

// Define records the call; with DefineErr scripted it fails.
func (d *Driver) Define(ctx context.Context, vm string, spec drivers.Spec) error {
	d.mu.Lock()
	err := d.behaviors[vm].DefineErr
	if err == nil {
		delete(d.undefined, vm)
	}
	d.finish(Call{Op: "Define", VM: vm, Err: err})
	return err
}

// Remove records the call.
func (d *Driver) Remove(ctx context.Context, vm string) error {
	d.mu.Lock()
	d.finish(Call{Op: "Remove", VM: vm})
	return nil
}

// Spawn makes a new live agent process for vm (and a driver process with
// WithVMProcess), or fails as scripted.
func (d *Driver) Spawn(ctx context.Context, vm string, spec drivers.Spec) (drivers.Procs, error) {
	d.mu.Lock()
	b := d.behaviors[vm]
	if b.SpawnErr != nil {
		d.finish(Call{Op: "Spawn", VM: vm, Err: b.SpawnErr})
		return drivers.Procs{}, b.SpawnErr
	}
	p := d.newProcPID(vm, b.SpawnPID)
	if b.WithVMProcess || b.VMProcessAfter > 0 {
		d.starts++
		p.drvProc = drivers.Proc{PID: d.nextPID, StartTime: d.starts, Group: d.nextPID}
		d.nextPID++
	}
	procs := drivers.Procs{Agent: p.id, VMProcess: p.drvProc}
	if b.VMProcessAfter > 0 {
		procs.VMProcess = drivers.Proc{}
		p.timers = append(p.timers, time.AfterFunc(b.VMProcessAfter, func() { d.showDriver(p) }))
	} else {
		p.drvShown = true
	}
	d.finish(Call{Op: "Spawn", VM: vm, PID: p.id.PID})
	return procs, nil
}

// newProc needs d.mu.
func (d *Driver) newProc(vm string) *proc { return d.newProcPID(vm, 0) }

// newProcPID makes a live agent with pid want, or the next free pid when
// want is zero or held by a live process. It needs d.mu.
func (d *Driver) newProcPID(vm string, want int) *proc {
	pid := want
	if q, held := d.procs[want]; want <= 0 || (held && q.alive) {
		pid = d.freePID()
	}
	d.starts++
	p := &proc{vm: vm, id: drivers.Proc{PID: pid, StartTime: d.starts, Group: pid, BootID: "scripted"}, alive: true, started: d.clock()}
	d.procs[pid] = p
	return p
}

// freePID returns the next pid no live process holds. It needs d.mu.
func (d *Driver) freePID() int {
	for {
		pid := d.nextPID
		d.nextPID++
		if q, held := d.procs[pid]; !held || !q.alive {
			return pid
		}
	}
}

// Start makes a live agent for vm without a Spawn call, as if someone
// started it by hand or a crash hid its spawn. It returns its identity.
func (d *Driver) Start(vm string, running bool) drivers.Procs {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.newProc(vm)
	p.running = running
	return drivers.Procs{Agent: p.id}
}

// match returns the live process with the recorded identity, or nil: a pid
// held by a process with another start time is not the agent. It needs d.mu.
func (d *Driver) match(id drivers.Proc) *proc {
	p, ok := d.procs[id.PID]
	if !ok || id.PID == 0 || !p.alive || p.id.StartTime != id.StartTime {
		return nil
	}
	return p
}

// Watch follows the agent: it reports running (after RunningAfter), a
// scripted failure, a crash (CrashAfter), and the agent's exit.
func (d *Driver) Watch(ctx context.Context, vm string, spec drivers.Spec, procs drivers.Procs, sink func(drivers.Observation)) {
	d.mu.Lock()
	b := d.behaviors[vm]
	p := d.match(procs.Agent)
	if p == nil {
		d.goReport(func() {
			sink(drivers.Observation{VM: vm, Kind: drivers.ObsExited, Procs: procs, Code: -1, Reason: fmt.Sprintf("pid %d is gone", procs.Agent.PID)})
		})
		d.finish(Call{Op: "Watch", VM: vm, PID: procs.Agent.PID, Extra: "gone"})
		return
	}
	p.watchers = append(p.watchers, watcher{ctx: ctx, sink: sink, procs: procs})
	identity := p.drvShown && b.VMProcessAfter > 0 && procs.VMProcess.IsZero()
	switch {
	case p.running:
		d.goReport(func() {
			if identity {
				sink(drivers.Observation{VM: vm, Kind: drivers.ObsIdentity, Procs: drivers.Procs{Agent: p.id, VMProcess: p.drvProc}})
			}
			sink(drivers.Observation{VM: vm, Kind: drivers.ObsRunning, Procs: procs})
		})
		d.armCrash(p, b)
	case b.FailWith != "":
		p.timers = append(p.timers, time.AfterFunc(b.RunningAfter, func() {
			d.notify(p, drivers.Observation{VM: vm, Kind: drivers.ObsFailed, Procs: procs, Reason: b.FailWith})
		}))
	case !b.NeverRunning:
		p.timers = append(p.timers, time.AfterFunc(b.RunningAfter, func() {
			d.mu.Lock()
			if !p.alive {
				d.mu.Unlock()
				return
			}
			p.running = true
			d.armCrash(p, b)
			d.mu.Unlock()
			d.notify(p, drivers.Observation{VM: vm, Kind: drivers.ObsRunning, Procs: procs})
		}))
	}
	if identity && !p.running {
		d.goReport(func() {
			sink(drivers.Observation{VM: vm, Kind: drivers.ObsIdentity, Procs: drivers.Procs{Agent: p.id, VMProcess: p.drvProc}})
		})
	}
	d.finish(Call{Op: "Watch", VM: vm, PID: procs.Agent.PID, Driver: procs.VMProcess.PID})
}

// showDriver makes p's VM driver process appear (VMProcessAfter) and tells
// the watches that were given no driver identity.
func (d *Driver) showDriver(p *proc) {
	d.mu.Lock()
	if !p.alive || p.drvShown {
		d.mu.Unlock()
		return
	}
	p.drvShown = true
	var ws []watcher
	for _, w := range p.watchers {
		if w.procs.VMProcess.IsZero() {
			ws = append(ws, w)
		}
	}
	o := drivers.Observation{VM: p.vm, Kind: drivers.ObsIdentity, Procs: drivers.Procs{Agent: p.id, VMProcess: p.drvProc}, Reason: "VM driver process identified"}
	d.mu.Unlock()
	for _, w := range ws {
		if w.ctx.Err() == nil {
			w.sink(o)
		}
	}
}

// armCrash needs d.mu.
func (d *Driver) armCrash(p *proc, b Behavior) {
	if b.CrashAfter <= 0 {
		return
	}
	p.timers = append(p.timers, time.AfterFunc(b.CrashAfter, func() {
		d.mu.Lock()
		f := d.exitLocked(p, 1, "crashed")
		d.mu.Unlock()
		run([]func(){f})
	}))
}

// notify tells p's live watchers about o.
func (d *Driver) notify(p *proc, o drivers.Observation) {
	d.mu.Lock()
	ws := append([]watcher(nil), p.watchers...)
	d.mu.Unlock()
	for _, w := range ws {
		if w.ctx.Err() == nil {
			w.sink(o)
		}
	}
}

// exitLocked ends p and returns the function that tells its watchers. It
// needs d.mu; call the result without it.
func (d *Driver) exitLocked(p *proc, code int, reason string) func() {
	o := drivers.Observation{VM: p.vm, Kind: drivers.ObsExited, Procs: drivers.Procs{Agent: p.id, VMProcess: p.drvProc}, Code: code, Reason: fmt.Sprintf("exit status %d (%s)", code, reason)}
	return d.endLocked(p, o, reason)
}

// endLocked ends p and returns the function that tells its watchers o. It
// needs d.mu; call the result without it.
func (d *Driver) endLocked(p *proc, o drivers.Observation, reason string) func() {
	if !p.alive {
		return nil
	}
	p.alive, p.running, p.code, p.reason = false, false, o.Code, reason
	for _, t := range p.timers {
		t.Stop()
	}
	p.timers = nil
	ws := p.watchers
	p.watchers = nil
	return func() {
		for _, w := range ws {
			if w.ctx.Err() == nil {
				w.sink(o)
			}
		}
	}
}

// signal is Interrupt and Terminate: identity check, then exit unless
// ignored.
func (d *Driver) signal(op, vm string, procs drivers.Procs, ignore func(Behavior) bool, reason string) error {
	d.mu.Lock()
	p := d.match(procs.Agent)
	if p == nil {
		d.finish(Call{Op: op, VM: vm, PID: procs.Agent.PID, Driver: procs.VMProcess.PID, Extra: "gone"})
		return nil
	}
	var f func()
	extra := "ignored"
	if !ignore(d.behaviors[vm]) {
		f, extra = d.exitLocked(p, 0, reason), ""
	}
	d.finish(Call{Op: op, VM: vm, PID: procs.Agent.PID, Driver: procs.VMProcess.PID, Extra: extra})
	run([]func(){f})
	return nil
}

// Interrupt makes the agent exit with code 0 unless it ignores interrupts.
func (d *Driver) Interrupt(ctx context.Context, vm string, procs drivers.Procs) error {
	return d.signal("Interrupt", vm, procs, func(b Behavior) bool { return b.IgnoreInterrupt }, "interrupted")
}

// Terminate makes the agent exit unless it ignores terminate.
func (d *Driver) Terminate(ctx context.Context, vm string, procs drivers.Procs) error {
	return d.signal("Terminate", vm, procs, func(b Behavior) bool { return b.IgnoreTerminate }, "terminated")
}

// KillTree ends the agent and its driver process, unless scripted to
// survive. An agent already gone is success.
func (d *Driver) KillTree(ctx context.Context, vm string, procs drivers.Procs) error {
	d.mu.Lock()
	p := d.match(procs.Agent)
	if p == nil {
		extra := "gone"
		if o, ok := d.orphans[procs.VMProcess.PID]; ok && !procs.VMProcess.IsZero() && o.id == procs.VMProcess {
			delete(d.orphans, procs.VMProcess.PID)
			extra = fmt.Sprintf("gone; killed orphaned driver pid %d", procs.VMProcess.PID)
		}
		d.finish(Call{Op: "KillTree", VM: vm, PID: procs.Agent.PID, Driver: procs.VMProcess.PID, Extra: extra})
		return nil
	}
	if d.behaviors[vm].SurviveKill {
		err := fmt.Errorf("kill tree of pid %d: %w", procs.Agent.PID, ErrSurvived)
		d.finish(Call{Op: "KillTree", VM: vm, PID: procs.Agent.PID, Driver: procs.VMProcess.PID, Err: err})
		return err
	}
	f := d.exitLocked(p, -9, "killed")
	d.finish(Call{Op: "KillTree", VM: vm, PID: procs.Agent.PID, Driver: procs.VMProcess.PID})
	run([]func(){f})
	return nil
}

// Cleanup refuses, with an error wrapping [ErrAlive], while an agent of vm
// lives, or a VM driver process its agent left (see [Driver.Orphan]), as a
// real driver refuses to remove the files that name a live agent or QEMU
// (Lima: "the VM driver process (QEMU) still runs"); else it fails as
// scripted, or succeeds.
func (d *Driver) Cleanup(ctx context.Context, vm string) error {
	d.mu.Lock()
	err := d.behaviors[vm].CleanupErr
	for _, o := range d.orphans {
		if o.vm == vm {
			err = fmt.Errorf("vm %q: cleanup: the VM driver process still runs: pid %d: %w", vm, o.id.PID, ErrAlive)
		}
	}
	if pid := d.liveAgentLocked(vm); pid != 0 {
		err = fmt.Errorf("vm %q: cleanup: agent pid %d: %w", vm, pid, ErrAlive)
	}
	d.finish(Call{Op: "Cleanup", VM: vm, Err: err})
	return err
}

// liveAgentLocked returns the lowest pid of vm's live agents, or 0. It
// needs d.mu.
func (d *Driver) liveAgentLocked(vm string) int {
	low := 0
	for pid, p := range d.procs {
		if p.vm == vm && p.alive && !p.unrelated && (low == 0 || pid < low) {
			low = pid
		}
	}
	return low
}

// clock is the time a process starts at. It needs d.mu.
func (d *Driver) clock() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

// Lookup finds the recorded agent by identity; with none recorded, the
// newest live agent of vm that started at or after since (the driver's
// "pid file", which names only the agent spawned since: an older one is
// not the VM's current incarnation). A zero since accepts any.
func (d *Driver) Lookup(ctx context.Context, vm string, spec drivers.Spec, procs drivers.Procs, since time.Time) (drivers.Liveness, drivers.Procs, error) {
	d.mu.Lock()
	if err := d.behaviors[vm].LookupErr; err != nil {
		d.finish(Call{Op: "Lookup", VM: vm, PID: procs.Agent.PID, Driver: procs.VMProcess.PID, Err: err})
		return drivers.Gone, drivers.Procs{}, err
	}
	var p *proc
	if !procs.Agent.IsZero() {
		p = d.match(procs.Agent)
	} else {
		for _, q := range d.procs {
			if q.vm == vm && q.alive && !q.unrelated && !q.started.Before(since) && (p == nil || q.id.StartTime > p.id.StartTime) {
				p = q
			}
		}
	}
	if p == nil {
		// The agent is gone; a VM driver process it left behind is
		// reported, as a Lima driver reads it from qemu.pid.
		var found drivers.Procs
		for _, o := range d.orphans {
			if o.vm == vm {
				found.VMProcess = o.id
			}
		}
		d.finish(Call{Op: "Lookup", VM: vm, PID: procs.Agent.PID, Driver: procs.VMProcess.PID, Extra: "gone"})
		return drivers.Gone, found, nil
	}
	live := drivers.Alive
	if p.running {
		live = drivers.Ready
	}
	found := drivers.Procs{Agent: p.id}
	if p.drvShown {
		found.VMProcess = p.drvProc
	}
	d.finish(Call{Op: "Lookup", VM: vm, PID: p.id.PID, Driver: procs.VMProcess.PID, Extra: live.String()})
	return live, found, nil
}

// orphan is a VM driver process that outlived its agent.
type orphan struct {
	vm string
	id drivers.Proc
}

// Orphan makes vm's live agent die silently while its VM driver process
// (WithVMProcess) lives on, as Lima's QEMU outlives a SIGKILLed host
// agent. It returns the orphan's identity (zero if the agent has none).
func (d *Driver) Orphan(vm string) drivers.Proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.procs {
		if p.vm == vm && p.alive && !p.unrelated && !p.drvProc.IsZero() {
			p.alive, p.running, p.watchers = false, false, nil
			for _, t := range p.timers {
				t.Stop()
			}
			p.timers = nil
			if d.orphans == nil {
				d.orphans = map[int]orphan{}
			}
			d.orphans[p.drvProc.PID] = orphan{vm: vm, id: p.drvProc}
			return p.drvProc
		}
	}
	return drivers.Proc{}
}

// DriverAlive reports whether the orphaned VM driver process id still runs.
func (d *Driver) DriverAlive(id drivers.Proc) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.orphans[id.PID]
	return ok && o.id == id
}

// Revive brings vm's agent id back to life, with its VM driver process,
// after the model ended it: a replay whose kill took no time revives the
// agent that the recorded history shows outlived the kill (the daemon died
// during it). It reports false when the model holds no such process (its
// pid since reused), or a live agent of vm runs.
func (d *Driver) Revive(vm string, id drivers.Proc) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.procs[id.PID]
	if !ok || id.IsZero() || p.vm != vm || p.unrelated || p.alive || p.id != id {
		return false
	}
	for _, q := range d.procs {
		if q.vm == vm && q.alive && !q.unrelated {
			return false
		}
	}
	p.alive = true
	return true
}

// ShowDriver makes vm's newest live agent have a VM driver process that is
// there now, as a Lima QEMU that appeared while no daemon watched, and
// reports whether vm had a live agent. Its watchers are not told: a Lookup
// finds it. A replay of a history sets up what a recovery found with it.
func (d *Driver) ShowDriver(vm string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	var p *proc
	for _, q := range d.procs {
		if q.vm == vm && q.alive && !q.unrelated && (p == nil || q.id.StartTime > p.id.StartTime) {
			p = q
		}
	}
	if p == nil {
		return false
	}
	if p.drvProc.IsZero() {
		d.starts++
		p.drvProc = drivers.Proc{PID: d.nextPID, StartTime: d.starts, Group: d.nextPID}
		d.nextPID++
	}
	p.drvShown = true
	return true
}
