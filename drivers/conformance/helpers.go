package conformance

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// kase is one case's state.
type kase struct {
	t   *testing.T
	s   Setup
	d   drivers.Driver
	ctx context.Context
}

// spawned is an agent the case started (or, for RecycledPIDNeverSignalled,
// the identity it recorded for a VM).
type spawned struct {
	vm    string
	spec  drivers.Spec
	procs drivers.Procs
}

// spawn defines vm and spawns an agent that behaves as a; the case's end
// kills its tree by identity.
func (c *kase) spawn(vm string, a Agent) spawned {
	c.t.Helper()
	spec := c.s.Spec(vm, a)
	if err := c.d.Define(c.ctx, vm, spec); err != nil {
		c.t.Fatalf("Define %s: %v", vm, err)
	}
	procs, err := c.d.Spawn(c.ctx, vm, spec)
	if err != nil {
		c.t.Fatalf("Spawn %s (%s agent): %v", vm, a, err)
	}
	c.t.Cleanup(func() {
		if err := c.d.KillTree(context.Background(), vm, procs); err != nil {
			c.t.Errorf("cleanup: KillTree %s: %v", vm, err)
		}
	})
	return spawned{vm: vm, spec: spec, procs: procs}
}

// settle waits until a's agent reported running and has set up its signal
// handling.
func (c *kase) settle(a spawned, w *watcher) {
	c.t.Helper()
	w.wait(c, drivers.ObsRunning)
	if c.s.Settled != nil {
		c.s.Settled(c.t, a.vm, a.procs)
	}
}

// stop asks a well-behaved agent to stop: Interrupt, or Terminate where
// Interrupt cannot reach it.
func (c *kase) stop(a spawned) {
	c.t.Helper()
	if c.s.NoInterrupt != "" {
		if err := c.d.Terminate(c.ctx, a.vm, a.procs); err != nil {
			c.t.Fatalf("Terminate (Interrupt cannot reach the agent here: %s): %v", c.s.NoInterrupt, err)
		}
		return
	}
	if err := c.d.Interrupt(c.ctx, a.vm, a.procs); err != nil {
		c.t.Fatalf("Interrupt: %v", err)
	}
}

// interrupt sends Interrupt to a live agent: it must succeed, or, where it
// cannot reach the agent, say so.
func (c *kase) interrupt(a spawned) {
	c.t.Helper()
	err := c.d.Interrupt(c.ctx, a.vm, a.procs)
	switch {
	case c.s.NoInterrupt == "" && err != nil:
		c.t.Fatalf("Interrupt of the live agent pid %d: %v", a.procs.Agent.PID, err)
	case c.s.NoInterrupt != "" && err == nil:
		c.t.Errorf("Interrupt claimed success, but it cannot reach the agent here (%s)", c.s.NoInterrupt)
	}
}

// pause waits the setup's grace: long enough for what should not happen
// to have shown.
func (c *kase) pause() {
	if c.s.Grace > 0 {
		time.Sleep(c.s.Grace)
	}
}

// unharmed checks, after the grace, that a's agent still runs: its watch
// reported no exit and Lookup finds it with its identity.
func (c *kase) unharmed(a spawned, w *watcher, when string) {
	c.t.Helper()
	c.pause()
	if w.index(drivers.ObsExited) >= 0 {
		c.t.Fatalf("%s: the agent pid %d of %s exited: %s", when, a.procs.Agent.PID, a.vm, describe(w.all()))
	}
	live, found, err := c.d.Lookup(c.ctx, a.vm, a.spec, a.procs, time.Time{})
	if err != nil || live == drivers.Gone || !sameAgent(found.Agent, a.procs.Agent) {
		c.t.Fatalf("%s: Lookup of the agent pid %d of %s = %s; want it alive", when, a.procs.Agent.PID, a.vm, describeLookup(live, found, err))
	}
}

// gone checks that d's Lookup of a's recorded agent says Gone, now.
func (c *kase) gone(d drivers.Driver, a spawned, when string) {
	c.t.Helper()
	if live, found, err := d.Lookup(c.ctx, a.vm, a.spec, a.procs, time.Time{}); err != nil || live != drivers.Gone {
		c.t.Errorf("%s: Lookup of the agent pid %d of %s = %s; want gone", when, a.procs.Agent.PID, a.vm, describeLookup(live, found, err))
	}
}

// eventually polls cond, with growing pauses, until it holds, failing the
// case after the bound with what last failed.
func (c *kase) eventually(what string, cond func() bool, last func() string) {
	c.t.Helper()
	deadline := time.Now().Add(c.s.Bound)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not within %v; last: %s", what, c.s.Bound, last())
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// watcher is one Watch: what it reported, and its context.
type watcher struct {
	mu     sync.Mutex
	obs    []drivers.Observation
	wake   chan struct{}
	cancel context.CancelFunc
}

// watch starts d's Watch of a, ending with the case (or at w.cancel).
func (c *kase) watch(d drivers.Driver, a spawned) *watcher {
	ctx, cancel := context.WithCancel(c.ctx)
	c.t.Cleanup(cancel)
	w := &watcher{wake: make(chan struct{}, 1), cancel: cancel}
	d.Watch(ctx, a.vm, a.spec, a.procs, w.sink)
	return w
}

func (w *watcher) sink(o drivers.Observation) {
	w.mu.Lock()
	w.obs = append(w.obs, o)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) all() []drivers.Observation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]drivers.Observation(nil), w.obs...)
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.obs)
}

// index is the position of the first observation of kind, or -1.
func (w *watcher) index(kind drivers.ObservationKind) int {
	for i, o := range w.all() {
		if o.Kind == kind {
			return i
		}
	}
	return -1
}

// wait returns the first observation of kind, failing the case after the
// bound.
func (w *watcher) wait(c *kase, kind drivers.ObservationKind) drivers.Observation {
	c.t.Helper()
	deadline := time.NewTimer(c.s.Bound)
	defer deadline.Stop()
	for {
		if i := w.index(kind); i >= 0 {
			return w.all()[i]
		}
		select {
		case <-w.wake:
		case <-deadline.C:
			c.t.Fatalf("no %s observation within %v; got %s", kind, c.s.Bound, describe(w.all()))
		}
	}
}

// once checks that exactly one observation of kind was reported and, for
// ObsExited, that nothing came after it.
func (w *watcher) once(c *kase, kind drivers.ObservationKind) {
	c.t.Helper()
	obs := w.all()
	n := 0
	for _, o := range obs {
		if o.Kind == kind {
			n++
		}
	}
	if n != 1 {
		c.t.Errorf("%d %s observations, want exactly one: %s", n, kind, describe(obs))
	}
	if kind == drivers.ObsExited && len(obs) > 0 && obs[len(obs)-1].Kind != kind {
		c.t.Errorf("observations after the exit: %s", describe(obs))
	}
}

// about checks that every observation names a's VM and agent.
func (w *watcher) about(c *kase, a spawned, n int) {
	c.t.Helper()
	for _, o := range w.all() {
		if o.VM != a.vm || !sameAgent(o.Procs.Agent, a.procs.Agent) {
			c.t.Errorf("watch %d: observation %s is about vm %q agent %+v, want %q agent %+v", n, o.Kind, o.VM, o.Procs.Agent, a.vm, a.procs.Agent)
		}
	}
}

// sameAgent compares identities by pid and start time (a driver may fill
// in the group or boot id it learned).
func sameAgent(a, b drivers.Proc) bool { return a.PID == b.PID && a.StartTime == b.StartTime }

func describe(obs []drivers.Observation) string {
	var b strings.Builder
	b.WriteString("[")
	for i, o := range obs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s(code %d, %q, agent %d)", o.Kind, o.Code, o.Reason, o.Procs.Agent.PID)
	}
	b.WriteString("]")
	return b.String()
}

func describeLookup(live drivers.Liveness, found drivers.Procs, err error) string {
	return fmt.Sprintf("%s, agent %+v, error %v", live, found.Agent, err)
}
