package engine

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Issue 9, item 2: every arrow into Starting begins a new incarnation, and
// nothing of the previous one's identities is carried over: status does not
// show them, no driver call is given them, the watch identifies the new VM
// driver process (Lima's QEMU appears after its agent), and the log names
// it. The scripted driver's VMProcessAfter models that late QEMU.

// lateDriver is an agent whose VM driver process appears 1s after the
// spawn, and which reports running 2s after it.
var lateDriver = drivertest.Behavior{VMProcessAfter: time.Second, RunningAfter: 2 * time.Second}

// incarnation is what one start of a VM ran.
type incarnation struct {
	agent, driver store.Proc
	seq           uint64 // the global seq of the start or restart record
}

// running waits (virtually) until vm is Running and returns its
// incarnation, checking that both identities are recorded in the log since
// the start or restart that began it.
func (h *harness) running(vm string) incarnation {
	h.t.Helper()
	time.Sleep(3 * time.Second)
	synctest.Wait()
	h.wantState(vm, states.Running)
	v, err := h.e.Get(vm)
	h.must(err)
	var inc incarnation
	var agent, driver bool
	for _, r := range h.records(vm) {
		if r.To == states.Starting && r.From != states.Starting {
			inc, agent, driver = incarnation{seq: r.Seq}, false, false
			continue
		}
		agent = agent || (!r.Agent.IsZero() && r.Agent == v.Agent)
		driver = driver || (!r.VMProcess.IsZero() && r.VMProcess == v.VMProcess)
	}
	if v.Agent.IsZero() || v.VMProcess.IsZero() || !agent || !driver {
		h.t.Fatalf("vm %s Running with agent %+v, driver %+v; want both, each named by a record since its start (agent recorded %v, driver recorded %v)\n%s",
			vm, v.Agent, v.VMProcess, agent, driver, h.logText(vm))
	}
	inc.agent, inc.driver = v.Agent, v.VMProcess
	return inc
}

// noStaleCalls fails when a driver call for vm from the first Spawn at or
// after call number fromCall on (the new incarnation's) was given an
// identity of old. Calls before that spawn (the reset's or the restart's
// check that nothing of old runs) are about old by design.
func (h *harness) noStaleCalls(vm string, old incarnation, fromCall int) {
	h.t.Helper()
	spawned := false
	for _, c := range h.drv.Calls()[fromCall:] {
		if c.VM != vm {
			continue
		}
		spawned = spawned || c.Op == "Spawn"
		if !spawned {
			continue
		}
		if (c.PID != 0 && c.PID == int(old.agent.PID)) || (c.Driver != 0 && c.Driver == int(old.driver.PID)) {
			h.t.Errorf("vm %s: %s was given the previous incarnation's identities (agent %d, driver %d)", vm, c, old.agent.PID, old.driver.PID)
		}
	}
}

func TestEveryArrowIntoStartingForgetsThePreviousIdentities(t *testing.T) {
	arrows := []struct {
		name string
		// next leaves the VM (Running as first) Running in a new
		// incarnation. It may script the driver.
		next func(h *harness, first incarnation)
	}{
		{"start after stop", func(h *harness, first incarnation) {
			h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
			synctest.Wait()
			h.wantState("vm1", states.Stopped)
			h.ok(h.e.Start(bg, "vm1"))
		}},
		{"restart by the policy", func(h *harness, first incarnation) {
			h.drv.Exit("vm1", 1, "crashed") // Running → Broken, backoff 1s
			synctest.Wait()
			h.wantState("vm1", states.Broken)
			time.Sleep(DefaultRestartBackoff)
			synctest.Wait()
			h.wantState("vm1", states.Starting)
			if v, _ := h.e.Get("vm1"); v.Agent == first.agent || !v.VMProcess.IsZero() {
				h.t.Errorf("restarted vm shows agent %d, driver %d; the crashed incarnation's were %d, %d, and the new driver has not appeared",
					v.Agent.PID, v.VMProcess.PID, first.agent.PID, first.driver.PID)
			}
		}},
		{"reset then start", func(h *harness, first incarnation) {
			h.drv.Script("vm1", drivertest.Behavior{VMProcessAfter: time.Second, RunningAfter: 2 * time.Second, SurviveKill: true})
			h.ok(h.e.Stop(bg, "vm1", StopOptions{Force: true}))
			synctest.Wait()
			h.wantState("vm1", states.Broken)
			h.drv.Script("vm1", lateDriver)
			h.drv.Kill("vm1")
			synctest.Wait()
			h.ok(h.e.Reset(bg, "vm1"))
			h.ok(h.e.Start(bg, "vm1"))
		}},
		{"update's restart", func(h *harness, first incarnation) {
			h.ok(h.e.Update(bg, "vm1", drivers.Spec{Restart: RestartOnFailure, Env: map[string]string{"A": "B"}}))
		}},
		{"recovery of a restart whose driver was not identified yet", func(h *harness, first incarnation) {
			h.drv.Script("vm1", drivertest.Behavior{VMProcessAfter: 5 * time.Second, RunningAfter: 8 * time.Second})
			h.drv.Exit("vm1", 1, "crashed")
			synctest.Wait()
			time.Sleep(DefaultRestartBackoff)
			synctest.Wait()
			h.wantState("vm1", states.Starting) // spawned, no driver yet
			h.restart()
			synctest.Wait()
			h.wantState("vm1", states.Starting)
			if v, _ := h.e.Get("vm1"); v.VMProcess == first.driver {
				h.t.Errorf("recovered restart shows driver %d of the crashed incarnation", v.VMProcess.PID)
			}
			time.Sleep(6 * time.Second) // with running's 3s, past the 8s the new agent takes
		}},
	}
	for _, a := range arrows {
		t.Run(a.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.drv.Script("vm1", lateDriver)
				h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
				h.ok(h.e.Start(bg, "vm1"))
				first := h.running("vm1")
				calls := len(h.drv.Calls())

				a.next(h, first)
				second := h.running("vm1")
				if second.seq <= first.seq || second.agent == first.agent || second.driver == first.driver {
					t.Fatalf("second incarnation %+v, first %+v: want new identities after a new start", second, first)
				}
				// The new VM driver process is tracked: a force stop ends it.
				h.ok(h.e.Stop(bg, "vm1", StopOptions{Force: true}))
				synctest.Wait()
				h.wantState("vm1", states.Stopped)
				h.noStaleCalls("vm1", first, calls)
				if alive := h.drv.Alive("vm1"); len(alive) > 0 {
					t.Errorf("after the force stop, pids %v of vm1 still run", alive)
				}
			})
		})
	}
}
