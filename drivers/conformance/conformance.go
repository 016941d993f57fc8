package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// Agent is how an agent the suite asks for behaves.
type Agent int

const (
	// Plain is a well-behaved agent: it reports running, and Interrupt (or
	// Terminate) ends it.
	Plain Agent = iota
	// IgnoresInterrupt lives on after Interrupt; Terminate ends it.
	IgnoresInterrupt
	// IgnoresBoth lives on after Interrupt and Terminate; only KillTree
	// ends it.
	IgnoresBoth
)

func (a Agent) String() string {
	switch a {
	case Plain:
		return "plain"
	case IgnoresInterrupt:
		return "ignores-interrupt"
	case IgnoresBoth:
		return "ignores-interrupt-and-terminate"
	}
	return "unknown"
}

// DefaultBound is the longest any wait of the suite lasts when
// [Setup].Bound is zero.
const DefaultBound = 20 * time.Second

// Setup is what one case of the suite runs against.
type Setup struct {
	// Driver is a fresh driver that knows no VM.
	Driver drivers.Driver
	// Spec returns the spec of vm whose agent behaves as a. The suite
	// defines vm with it before it spawns.
	Spec func(vm string, a Agent) drivers.Spec
	// Restart returns a second driver over the same state as Driver, as
	// a daemon that restarted makes it: it shares the OS and the files,
	// not Driver's memory of what it spawned. Nil means Driver itself
	// (a driver with no memory of its own, like the scripted one, whose
	// model is the OS).
	Restart func() drivers.Driver
	// Settled, when set, returns once vm's agent (spawned as procs) has
	// set up its signal handling, failing t after the bound. Nil means
	// ObsRunning says so already.
	Settled func(t *testing.T, vm string, procs drivers.Procs)
	// Slack is how far the driver's start time of a process may be from
	// the wall clock (process.StartedAtSlack). LookupSince puts since
	// twice this after the spawn.
	Slack time.Duration
	// Grace is how long a signal the driver sent takes to end an agent
	// that does not ignore it: the suite waits this long before it
	// concludes that something did not happen. Zero for a driver whose
	// signals act within the call.
	Grace time.Duration
	// NoInterrupt, when not empty, says why Interrupt cannot reach an
	// agent here (Windows without a console shared with the agent). The
	// suite then requires Interrupt to say so with an error, rather than
	// claim a success, and stops agents with Terminate.
	NoInterrupt string
	// TerminateIsFinal, when not empty, says why no agent can ignore
	// Terminate here (Windows: TerminateProcess). TerminateThenKillTree
	// is then skipped with that reason.
	TerminateIsFinal string
	// Bound bounds every wait; zero means DefaultBound.
	Bound time.Duration
}

// Factory makes the setup of one case. It registers on t whatever cleanup
// its driver needs beyond the suite's own (the suite kills every agent it
// spawned, by identity, when the case ends).
type Factory func(t *testing.T) Setup

// Run runs every case of the suite against the driver f makes, each as a
// subtest with a setup of its own.
func Run(t *testing.T, f Factory) {
	cases := []struct {
		name string
		run  func(c *kase)
	}{
		{"SpawnThenIdentity", spawnThenIdentity},
		{"LookupSince", lookupSince},
		{"KillTreeIdempotent", killTreeIdempotent},
		{"RecycledPIDNeverSignalled", recycledPIDNeverSignalled},
		{"CleanupRefusedWhileAlive", cleanupRefusedWhileAlive},
		{"ExitObservedOnce", exitObservedOnce},
		{"InterruptThenTerminate", interruptThenTerminate},
		{"TerminateThenKillTree", terminateThenKillTree},
		{"ProcReaperByIdentity", procReaperByIdentity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := f(t)
			if s.Bound == 0 {
				s.Bound = DefaultBound
			}
			if s.Restart == nil {
				s.Restart = func() drivers.Driver { return s.Driver }
			}
			tc.run(&kase{t: t, s: s, d: s.Driver, ctx: context.Background()})
		})
	}
}

// spawnThenIdentity: Spawn returns the identity, the watch and Lookup agree
// on it.
func spawnThenIdentity(c *kase) {
	const vm = "conf-identity"
	since := time.Now()
	a := c.spawn(vm, Plain)
	if a.procs.Agent.PID <= 0 || a.procs.Agent.StartTime == 0 {
		c.t.Fatalf("Spawn returned agent %+v: want a pid and a start time", a.procs.Agent)
	}
	w := c.watch(c.d, a)
	o := w.wait(c, drivers.ObsRunning)
	if o.VM != vm || !sameAgent(o.Procs.Agent, a.procs.Agent) {
		c.t.Errorf("ObsRunning is about vm %q agent %+v, want %q agent %+v", o.VM, o.Procs.Agent, vm, a.procs.Agent)
	}
	// A watch of an agent that is up reports it, whoever watched before:
	// the engine watches again after a daemon restart or a retried record,
	// and drops what a superseded watch reported.
	for _, d := range []struct {
		name string
		drv  drivers.Driver
	}{{"the driver that spawned it", c.d}, {"a restarted driver", c.s.Restart()}} {
		if o := c.watch(d.drv, a).wait(c, drivers.ObsRunning); o.VM != vm || !sameAgent(o.Procs.Agent, a.procs.Agent) {
			c.t.Errorf("a second watch, by %s: ObsRunning is about vm %q agent %+v, want %q agent %+v", d.name, o.VM, o.Procs.Agent, vm, a.procs.Agent)
		}
	}
	for _, d := range []struct {
		name string
		drv  drivers.Driver
	}{{"the driver that spawned it", c.d}, {"a restarted driver", c.s.Restart()}} {
		live, found, err := d.drv.Lookup(c.ctx, vm, a.spec, a.procs, since)
		if err != nil || live == drivers.Gone || !sameAgent(found.Agent, a.procs.Agent) {
			c.t.Errorf("Lookup of the recorded agent %+v by %s = %s, %+v, %v; want alive or ready, the same identity, no error",
				a.procs.Agent, d.name, live, found.Agent, err)
		}
	}
}

// lookupSince: an unrecorded agent is found when it started after since,
// not when it started before.
func lookupSince(c *kase) {
	const vm = "conf-since"
	before := time.Now()
	a := c.spawn(vm, Plain)
	after := time.Now().Add(2*c.s.Slack + time.Millisecond)
	c.watch(c.d, a).wait(c, drivers.ObsRunning)
	r := c.s.Restart()
	var live drivers.Liveness
	var found drivers.Procs
	var err error
	c.eventually("Lookup with no recorded identity, since before the spawn, finds the agent", func() bool {
		live, found, err = r.Lookup(c.ctx, vm, a.spec, drivers.Procs{}, before)
		return err == nil && live != drivers.Gone
	}, func() string { return describeLookup(live, found, err) })
	if !sameAgent(found.Agent, a.procs.Agent) {
		c.t.Errorf("Lookup since before the spawn found agent %+v, want the spawned %+v", found.Agent, a.procs.Agent)
	}
	live, found, err = r.Lookup(c.ctx, vm, a.spec, drivers.Procs{}, after)
	if err != nil || live != drivers.Gone || !found.Agent.IsZero() {
		c.t.Errorf("Lookup with no recorded identity, since after the agent started (%v later), = %s; want gone, no agent, no error",
			after.Sub(before), describeLookup(live, found, err))
	}
}

// killTreeIdempotent: KillTree ends a live tree before it returns, and a
// dead tree's KillTree is success.
func killTreeIdempotent(c *kase) {
	a := c.spawn("conf-kill", Plain)
	w := c.watch(c.d, a)
	c.settle(a, w)
	if err := c.d.KillTree(c.ctx, a.vm, a.procs); err != nil {
		c.t.Fatalf("KillTree of a live tree: %v", err)
	}
	c.gone(c.d, a, "right after KillTree returned")
	w.wait(c, drivers.ObsExited)
	if err := c.d.KillTree(c.ctx, a.vm, a.procs); err != nil {
		c.t.Errorf("KillTree of a dead tree: %v, want success", err)
	}
	if err := c.s.Restart().KillTree(c.ctx, a.vm, a.procs); err != nil {
		c.t.Errorf("KillTree of a dead tree by a restarted driver: %v, want success", err)
	}
	if err := c.d.Cleanup(c.ctx, a.vm); err != nil {
		c.t.Errorf("Cleanup after KillTree: %v", err)
	}

	// An agent that exited on its own: its tree's KillTree is success too.
	b := c.spawn("conf-exited", Plain)
	wb := c.watch(c.d, b)
	c.settle(b, wb)
	c.stop(b)
	wb.wait(c, drivers.ObsExited)
	for i := range 2 {
		if err := c.d.KillTree(c.ctx, b.vm, b.procs); err != nil {
			c.t.Errorf("KillTree #%d of an agent that exited: %v, want success", i+1, err)
		}
	}
	c.gone(c.d, b, "after it exited and KillTree")
}

// recycledPIDNeverSignalled: a recorded identity whose pid now names
// another process is gone, and that process is never signalled.
func recycledPIDNeverSignalled(c *kase) {
	holder := c.spawn("conf-holder", Plain)
	wh := c.watch(c.d, holder)
	c.settle(holder, wh)

	// vm's recorded agent had holder's pid and group, and another start
	// time: it died, and holder got its pid.
	const vm = "conf-recycled"
	spec := c.s.Spec(vm, Plain)
	if err := c.d.Define(c.ctx, vm, spec); err != nil {
		c.t.Fatalf("Define %s: %v", vm, err)
	}
	dead := holder.procs.Agent
	if dead.StartTime > 1 {
		dead.StartTime-- // it started before the process that holds its pid now
	} else {
		dead.StartTime++
	}
	recorded := drivers.Procs{Agent: dead}
	a := spawned{vm: vm, spec: spec, procs: recorded}

	if live, found, err := c.d.Lookup(c.ctx, vm, spec, recorded, time.Time{}); err != nil || live != drivers.Gone || sameAgent(found.Agent, holder.procs.Agent) {
		c.t.Errorf("Lookup of a recorded agent whose pid another process holds = %s; want gone, not the holder, no error", describeLookup(live, found, err))
	}
	w := c.watch(c.d, a)
	// Interrupt and Terminate may say the agent is gone (an error): either
	// way, nothing is sent to the holder.
	_ = c.d.Interrupt(c.ctx, vm, recorded)
	_ = c.d.Terminate(c.ctx, vm, recorded)
	if err := c.d.KillTree(c.ctx, vm, recorded); err != nil {
		c.t.Errorf("KillTree of a recorded agent whose pid another process holds: %v, want success (it is gone)", err)
	}
	if err := c.s.Restart().KillTree(c.ctx, vm, recorded); err != nil {
		c.t.Errorf("KillTree by a restarted driver of a recorded agent whose pid another process holds: %v, want success", err)
	}
	w.wait(c, drivers.ObsExited)
	c.unharmed(holder, wh, "after Interrupt, Terminate and KillTree of a recorded identity with its pid")
	w.once(c, drivers.ObsExited)
}

// cleanupRefusedWhileAlive: Cleanup never hides a live agent.
func cleanupRefusedWhileAlive(c *kase) {
	since := time.Now()
	a := c.spawn("conf-cleanup", Plain)
	w := c.watch(c.d, a)
	c.settle(a, w)
	if err := c.d.Cleanup(c.ctx, a.vm); err == nil {
		c.t.Errorf("Cleanup while the agent pid %d lives: success, want a refusal", a.procs.Agent.PID)
	}
	r := c.s.Restart()
	if err := r.Cleanup(c.ctx, a.vm); err == nil {
		c.t.Errorf("Cleanup by a restarted driver while the agent pid %d lives: success, want a refusal", a.procs.Agent.PID)
	}
	c.unharmed(a, w, "after the refused Cleanups")
	// Its files are still there: a restarted driver still finds it.
	if live, found, err := r.Lookup(c.ctx, a.vm, a.spec, drivers.Procs{}, since); err != nil || live == drivers.Gone || !sameAgent(found.Agent, a.procs.Agent) {
		c.t.Errorf("after the refused Cleanups, Lookup with no recorded identity = %s; want the agent %+v found", describeLookup(live, found, err), a.procs.Agent)
	}
	if err := c.d.KillTree(c.ctx, a.vm, a.procs); err != nil {
		c.t.Fatalf("KillTree: %v", err)
	}
	if err := c.d.Cleanup(c.ctx, a.vm); err != nil {
		c.t.Errorf("Cleanup after KillTree: %v", err)
	}
}

// exitObservedOnce: each watch reports the exit once, and nothing after.
func exitObservedOnce(c *kase) {
	a := c.spawn("conf-exit", Plain)
	stopped := c.watch(c.d, a)
	w1, w2 := c.watch(c.d, a), c.watch(c.d, a)
	c.settle(a, w1)
	w2.wait(c, drivers.ObsRunning)
	// An observation that was on its way when the context ended may
	// still land (no driver can take back a sink call under way); nothing
	// may come after that.
	stopped.cancel()
	c.pause()
	quiet := stopped.count()

	c.stop(a)
	w1.wait(c, drivers.ObsExited)
	w2.wait(c, drivers.ObsExited)
	// Watches started after the exit, by the same driver and by a
	// restarted one, report it too.
	w3, w4 := c.watch(c.d, a), c.watch(c.s.Restart(), a)
	w3.wait(c, drivers.ObsExited)
	w4.wait(c, drivers.ObsExited)
	c.pause()
	for i, w := range []*watcher{w1, w2, w3, w4} {
		w.once(c, drivers.ObsExited)
		w.about(c, a, i+1)
	}
	if n := stopped.count(); n != quiet {
		c.t.Errorf("a watch whose context ended reported %d more observations: %s", n-quiet, describe(stopped.all()[quiet:]))
	}
	if err := c.d.KillTree(c.ctx, a.vm, a.procs); err != nil {
		c.t.Errorf("KillTree after the exit: %v", err)
	}
}

// interruptThenTerminate: Terminate ends an agent that ignores Interrupt.
func interruptThenTerminate(c *kase) {
	a := c.spawn("conf-term", IgnoresInterrupt)
	w := c.watch(c.d, a)
	c.settle(a, w)
	c.interrupt(a)
	c.unharmed(a, w, "after Interrupt, which it ignores")
	if err := c.d.Terminate(c.ctx, a.vm, a.procs); err != nil {
		c.t.Fatalf("Terminate: %v", err)
	}
	w.wait(c, drivers.ObsExited)
	if err := c.d.KillTree(c.ctx, a.vm, a.procs); err != nil {
		c.t.Errorf("KillTree after Terminate ended the agent: %v", err)
	}
	c.gone(c.d, a, "after Terminate and KillTree")
}

// terminateThenKillTree: KillTree ends an agent that ignores Interrupt and
// Terminate.
func terminateThenKillTree(c *kase) {
	if c.s.TerminateIsFinal != "" {
		c.t.Skipf("no agent can ignore Terminate here: %s", c.s.TerminateIsFinal)
	}
	a := c.spawn("conf-killtree", IgnoresBoth)
	w := c.watch(c.d, a)
	c.settle(a, w)
	c.interrupt(a)
	if err := c.d.Terminate(c.ctx, a.vm, a.procs); err != nil {
		c.t.Fatalf("Terminate: %v", err)
	}
	c.unharmed(a, w, "after Interrupt and Terminate, which it ignores")
	if err := c.d.KillTree(c.ctx, a.vm, a.procs); err != nil {
		c.t.Fatalf("KillTree: %v", err)
	}
	c.gone(c.d, a, "right after KillTree returned")
	w.wait(c, drivers.ObsExited)
	c.pause()
	w.once(c, drivers.ObsExited)
}

// procReaperByIdentity: a driver that implements [drivers.ProcReaper] says
// a recorded process runs only by its identity (a pid another process
// holds now is gone), KillProc signals only that process, ends it, and is
// success once it is gone. A driver without one has nothing to check.
func procReaperByIdentity(c *kase) {
	r, ok := c.d.(drivers.ProcReaper)
	if !ok {
		c.t.Logf("%T implements no drivers.ProcReaper: nothing to check", c.d)
		return
	}
	a := c.spawn("conf-reaper", Plain)
	w := c.watch(c.d, a)
	c.settle(a, w)
	if runs, err := r.ProcRuns(c.ctx, a.vm, a.spec, a.procs.Agent); err != nil || !runs {
		c.t.Fatalf("ProcRuns of a live agent = %t, %v; want it runs", runs, err)
	}
	other := a.procs.Agent
	if other.StartTime > 1 {
		other.StartTime-- // it held the pid before the live agent
	} else {
		other.StartTime++
	}
	if runs, err := r.ProcRuns(c.ctx, a.vm, a.spec, other); err != nil || runs {
		c.t.Errorf("ProcRuns of a recorded identity whose pid another process holds = %t, %v; want gone", runs, err)
	}
	if err := r.KillProc(c.ctx, a.vm, a.spec, other); err != nil {
		c.t.Errorf("KillProc of a recorded identity whose pid another process holds: %v, want success (it is gone)", err)
	}
	c.unharmed(a, w, "after KillProc of another identity with its pid")
	if err := r.KillProc(c.ctx, a.vm, a.spec, a.procs.Agent); err != nil {
		c.t.Fatalf("KillProc of a live agent: %v", err)
	}
	w.wait(c, drivers.ObsExited)
	if runs, err := r.ProcRuns(c.ctx, a.vm, a.spec, a.procs.Agent); err != nil || runs {
		c.t.Errorf("ProcRuns after KillProc = %t, %v; want gone", runs, err)
	}
	if err := r.KillProc(c.ctx, a.vm, a.spec, a.procs.Agent); err != nil {
		c.t.Errorf("KillProc of a process already gone: %v, want success", err)
	}
}
