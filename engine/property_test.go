package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// justifies says which recorded states make a driver call legitimate: the
// durability rule, as a table. A call in any other state is an effect
// without a prior record.
var justifies = map[string][]states.State{
	"Spawn":     {states.Starting},
	"Interrupt": {states.Stopping},
	"Terminate": {states.ForceStopping},
	// KillTree: force stop, the end of a stop (a child may outlive its
	// agent), and the reap of a Broken VM.
	"KillTree": {states.Stopping, states.ForceStopping, states.Broken},
	"Cleanup":  {states.Stopping, states.ForceStopping, states.Broken},
}

// TestPropertyLifecycle fires random commands, driver observations, clock
// jumps and daemon crashes at an engine on a real bbolt file, and checks
// the invariants after every step against the table:
//   - every record's To is states.Next(From, Event), and From is the
//     previous record's To;
//   - the stored head equals the fold of the VM's log, and the engine
//     reports the same state;
//   - no driver effect happens unless the log already holds a state that
//     justifies it;
//   - a command is accepted exactly when the table allows it;
//   - the identities a Running VM shows are those of its live agent and
//     of that agent's VM driver process (or none yet), never an earlier
//     incarnation's (issue 9, item 2: restarts by the policy);
//   - after enough time, no VM is left in flight, and an agent is alive
//     exactly when its VM is Running.
func TestPropertyLifecycle(t *testing.T) {
	vms := []string{"a", "b"}
	synctest.Test(t, func(t *testing.T) {
		base := t.TempDir()
		iter := 0
		rapid.Check(bubbleTB{t}, func(rt *rapid.T) {
			iter++
			dir := filepath.Join(base, fmt.Sprint(iter))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				rt.Fatal(err)
			}
			m := &propModel{rt: rt, path: filepath.Join(dir, "db"), drv: drivertest.New()}
			m.open()
			defer m.close()
			var hookMu sync.Mutex
			var violations []string
			m.drv.OnCall(func(c drivertest.Call) {
				allowedIn, ok := justifies[c.Op]
				if !ok {
					return
				}
				// The log as it is now: recovery calls the driver while
				// Open runs, so this must be the new store already.
				h, _, err := m.store().Head(c.VM)
				if err != nil {
					hookMu.Lock()
					violations = append(violations, fmt.Sprintf("%v: cannot read the log: %v", c, err))
					hookMu.Unlock()
					return
				}
				for _, s := range allowedIn {
					if h.State == s {
						return
					}
				}
				hookMu.Lock()
				violations = append(violations, fmt.Sprintf("%v while the log says %s", c, h.State))
				hookMu.Unlock()
			})
			m.behaviors = map[string]drivertest.Behavior{}
			for _, vm := range vms {
				m.script(vm, drawBehavior(rt, vm))
			}
			steps := rapid.IntRange(1, 40).Draw(rt, "steps")
			for i := 0; i < steps; i++ {
				vm := rapid.SampledFrom(vms).Draw(rt, "vm")
				op := rapid.SampledFrom([]string{"create", "start", "stop", "force", "reset", "delete", "tick", "exit", "outside", "restart", "rescript"}).Draw(rt, "op")
				m.step(op, vm)
				synctest.Wait()
				hookMu.Lock()
				if len(violations) > 0 {
					rt.Fatalf("effect without a record: %v", violations)
				}
				hookMu.Unlock()
				m.check(vms)
			}
			// Convergence: agents crash no more (a restart the policy has
			// scheduled still happens), and every deadline passes.
			for _, vm := range vms {
				b := m.behaviors[vm]
				b.CrashAfter = 0
				m.drv.Script(vm, b)
			}
			time.Sleep(testStart + testGraceful + testTerminate + DefaultRestartBackoffMax + testStart)
			synctest.Wait()
			m.check(vms)
			for _, vm := range vms {
				s := m.state(vm)
				if s.InFlight() {
					rt.Fatalf("vm %s still %s after every deadline", vm, s)
				}
				alive := len(m.drv.Alive(vm)) > 0
				sticky := m.drv.Count(vm, "KillTree") > 0 && s == states.Broken // a survivor of the kill
				if alive != (s == states.Running) && !sticky {
					rt.Fatalf("vm %s is %s but alive agents %v", vm, s, m.drv.Alive(vm))
				}
			}
		})
	})
}

// bubbleTB hides *testing.T from rapid, which asks it for its deadline;
// inside a synctest bubble that call panics.
type bubbleTB struct{ *testing.T }

func drawBehavior(rt *rapid.T, vm string) drivertest.Behavior {
	return drivertest.Behavior{
		NeverRunning:    rapid.Bool().Draw(rt, vm+".neverRunning"),
		RunningAfter:    time.Duration(rapid.IntRange(0, 3).Draw(rt, vm+".runningAfter")) * time.Second,
		CrashAfter:      time.Duration(rapid.IntRange(0, 20).Draw(rt, vm+".crashAfter")) * time.Second,
		IgnoreInterrupt: rapid.Bool().Draw(rt, vm+".ignoreInterrupt"),
		IgnoreTerminate: rapid.Bool().Draw(rt, vm+".ignoreTerminate"),
		SurviveKill:     rapid.IntRange(0, 4).Draw(rt, vm+".surviveKill") == 0,
		WithVMProcess:   rapid.Bool().Draw(rt, vm+".driverProc"),
		VMProcessAfter:  time.Duration(rapid.IntRange(0, 2).Draw(rt, vm+".driverAfter")) * time.Second,
	}
}

type propModel struct {
	rt   *rapid.T
	path string
	st   *store.Store
	drv  *drivertest.Driver
	e    *Engine

	stMu sync.Mutex // st is read by the driver hook, from the engine's goroutines

	behaviors map[string]drivertest.Behavior // each VM's script
}

func (m *propModel) script(vm string, b drivertest.Behavior) {
	m.behaviors[vm] = b
	m.drv.Script(vm, b)
}

func (m *propModel) store() *store.Store {
	m.stMu.Lock()
	defer m.stMu.Unlock()
	return m.st
}

func (m *propModel) open() {
	st, err := store.Open(m.path, store.Options{NoSync: true})
	if err != nil {
		m.rt.Fatalf("open store: %v", err)
	}
	m.stMu.Lock()
	m.st = st
	m.stMu.Unlock()
	e, err := Open(context.Background(), Options{Store: st, Driver: m.drv, GracefulTimeout: testGraceful, StartTimeout: testStart, TerminateGrace: testTerminate})
	if err != nil {
		m.rt.Fatalf("open engine: %v", err)
	}
	m.e = e
}

func (m *propModel) close() {
	m.e.Close()
	m.st.Close()
}

func (m *propModel) state(vm string) states.State {
	v, err := m.e.Get(vm)
	if err != nil {
		return states.Absent
	}
	return v.State
}

func (m *propModel) step(op, vm string) {
	before := m.state(vm)
	var err error
	var ev states.Event
	switch op {
	case "create":
		ev = states.Create
		var spec drivers.Spec
		if rapid.Bool().Draw(m.rt, "restartOnFailure") {
			spec.Restart = RestartOnFailure
		}
		_, err = m.e.Create(bg, vm, spec)
	case "start":
		ev = states.Start
		_, err = m.e.Start(bg, vm)
	case "stop":
		ev = states.Stop
		_, err = m.e.Stop(bg, vm, StopOptions{})
	case "force":
		ev = states.ForceStop
		_, err = m.e.Stop(bg, vm, StopOptions{Force: true})
	case "reset":
		ev = states.Reset
		_, err = m.e.Reset(bg, vm)
	case "delete":
		ev = states.Delete
		_, err = m.e.Delete(bg, vm)
	case "tick":
		time.Sleep(time.Duration(rapid.IntRange(1, 15).Draw(m.rt, "tick")) * time.Second)
		return
	case "exit":
		m.drv.Exit(vm, 3, "killed by the test")
		return
	case "outside":
		m.drv.StopOutside(vm, 0, "stopped by the test (limactl stop)")
		return
	case "restart":
		m.e.Close()
		if err := m.st.Crash(); err != nil {
			m.rt.Fatal(err)
		}
		m.open()
		return
	case "rescript":
		m.script(vm, drawBehavior(m.rt, vm))
		return
	}
	_, terr := states.Next(before, ev)
	var rej *RejectedError
	switch {
	case terr != nil && err == nil:
		m.rt.Fatalf("%s of %s vm %s accepted; the table forbids it", op, before, vm)
	case terr == nil && errors.As(err, &rej):
		m.rt.Fatalf("%s of %s vm %s rejected; the table allows it: %v", op, before, vm, err)
	case terr != nil && err != nil:
		if before != states.Absent && !errors.As(err, &rej) && !errors.Is(err, ErrExists) {
			m.rt.Fatalf("%s of %s vm %s: %v, want a RejectedError", op, before, vm, err)
		}
	case err != nil && !errors.Is(err, ErrStillAlive):
		m.rt.Fatalf("%s of %s vm %s: %v", op, before, vm, err)
	}
}

func (m *propModel) check(vms []string) {
	for _, vm := range vms {
		var recs []store.Record
		err := m.st.VMRecords(vm, 1, func(r store.Record) error { recs = append(recs, r); return nil })
		if errors.Is(err, store.ErrNotFound) {
			if s := m.state(vm); s != states.Absent {
				m.rt.Fatalf("vm %s has no log but the engine says %s", vm, s)
			}
			continue
		}
		if err != nil {
			m.rt.Fatalf("read %s: %v", vm, err)
		}
		prev := states.Absent
		for _, r := range recs {
			if r.From != prev {
				m.rt.Fatalf("vm %s seq %d: from %s, previous record ended in %s", vm, r.VMSeq, r.From, prev)
			}
			if to, err := states.Next(r.From, r.Event); err != nil || to != r.To {
				m.rt.Fatalf("vm %s seq %d: %s %s→%s is not the table's", vm, r.VMSeq, r.Event, r.From, r.To)
			}
			prev = r.To
		}
		head, ok, err := m.st.Head(vm)
		if err != nil {
			m.rt.Fatal(err)
		}
		if ok && head != store.Fold(recs) {
			m.rt.Fatalf("vm %s: head %+v != fold %+v", vm, head, store.Fold(recs))
		}
		if got := m.state(vm); got != head.State {
			m.rt.Fatalf("vm %s: engine says %s, log says %s", vm, got, head.State)
		}
		if v, err := m.e.Get(vm); err == nil && v.State == states.Running {
			m.checkShown(vm, v)
		}
	}
}

// checkShown fails when a Running VM shows an identity that is not its
// live agent's or that agent's VM driver process's.
func (m *propModel) checkShown(vm string, v VM) {
	agent, driver := v.Agent, v.VMProcess
	for _, p := range m.drv.LiveProcs(vm) {
		if p.Agent != agent {
			continue
		}
		if !driver.IsZero() && driver != p.VMProcess {
			m.rt.Fatalf("vm %s Running shows driver %+v; its live agent %d has driver %+v", vm, driver, agent.PID, p.VMProcess)
		}
		return
	}
	m.rt.Fatalf("vm %s Running shows agent %+v, which is not alive (live: %+v)", vm, agent, m.drv.LiveProcs(vm))
}
