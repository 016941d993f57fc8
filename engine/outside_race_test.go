package engine

import (
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// `limactl start` races lifeline's start of the same Stopped VM and its
// agent writes ha.pid first: the driver's Spawn finds it
// (drivers.StartedOutsideError) instead of a second agent. The VM ends
// Running with that agent as its one tracked identity, never Broken.
func TestStartRacingLimactlStartFollowsTheAgentThatWasFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{}))
		won := h.drv.StartOutside("vm1")
		h.drv.Script("vm1", drivertest.Behavior{SpawnErr: &drivers.StartedOutsideError{VM: "vm1", Procs: won, Evidence: "ha.pid names host agent pid " + strconv.Itoa(won.Agent.PID)}})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running")
		v, err := h.e.Get("vm1")
		h.must(err)
		if v.Agent != won.Agent || v.VMProcess != won.VMProcess {
			t.Errorf("tracked agent %+v driver %+v, want the winner's %+v %+v", v.Agent, v.VMProcess, won.Agent, won.VMProcess)
		}
		r := h.records("vm1")[2]
		if r.Cause.Kind != store.CauseStartedOutside || !strings.Contains(r.Reason, "lifeline's start gave way") {
			t.Errorf("spawned: %s %q, want started_outside saying the start gave way", r.Cause.Kind, r.Reason)
		}
		if alive := h.drv.Alive("vm1"); len(alive) != 1 {
			t.Errorf("live agents %v, want only the winner", alive)
		}
	})
}

// The other order: lifeline's agent is spawned but the one `limactl
// start` started writes ha.pid first, so lifeline's exits before it came
// up. Its exit names the winner (Observation.Successor): the VM follows
// it to Running, with one tracked identity, not start_failed.
func TestStartRacingLimactlStartFollowsTheWinnerWhenItsOwnAgentGivesWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{NeverRunning: true})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		own := h.records("vm1")[2]
		won := h.drv.GiveWay("vm1")
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "spawned:Starting", "running:Running")
		v, err := h.e.Get("vm1")
		h.must(err)
		if v.Agent != won.Agent || v.Agent == own.Agent {
			t.Errorf("tracked agent %+v, want the winner's %+v (lifeline's own was %+v)", v.Agent, won.Agent, own.Agent)
		}
		// Without a winner an early exit stays a failed start.
		h.ok(h.e.Create(bg, "vm2", drivers.Spec{}))
		h.drv.Script("vm2", drivertest.Behavior{NeverRunning: true})
		h.ok(h.e.Start(bg, "vm2"))
		synctest.Wait()
		h.drv.Exit("vm2", 1, "exit status 1")
		synctest.Wait()
		h.wantState("vm2", states.Broken)
	})
}
