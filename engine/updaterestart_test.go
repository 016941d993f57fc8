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

// An update's restart ends with its stop: when that stop ends in Broken
// (kill_failed), the restart is void. Before, the in-memory intent
// survived, and a later force stop of the Broken VM (or the next stop of
// it after reset and start) started the VM again by itself.
func TestUpdateRestartVoidedByKillFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)

		h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true, SurviveKill: true})
		h.ok(h.e.Update(bg, "vm1", drivers.Spec{Env: map[string]string{"K": "2"}}))
		time.Sleep(testGraceful + testTerminate + time.Second)
		synctest.Wait()
		h.wantState("vm1", states.Broken)

		// The survivor is gone now; the user force-stops the Broken VM to
		// clear it. It must stay Stopped.
		h.drv.Script("vm1", drivertest.Behavior{})
		h.ok(h.e.Stop(bg, "vm1", StopOptions{Force: true}))
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running",
			"update:Running", "stop:Stopping", "stop_timeout:ForceStopping", "kill_failed:Broken",
			"force_stop:ForceStopping", "exited:Stopped")
	})
}

// An update's stop in flight when the daemon dies (a power cut found it:
// powercut seed 503127644): the next daemon finishes the stop and carries
// out the restart. That start is the update's restart resumed after a
// daemon restart, and says so (CauseUpdateResumed), as a start of a VM
// the dead daemon had already stopped does; it was recorded as a plain
// update's restart, which the power-cut audit rightly refused as a start
// nobody asked for.
func TestUpdateRestartResumedAfterAStopInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)

		h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		h.ok(h.e.Update(bg, "vm1", drivers.Spec{Env: map[string]string{"K": "2"}}))
		synctest.Wait()
		h.wantState("vm1", states.Stopping)
		h.crash()
		h.drv.Kill("vm1") // the agent is gone when the next daemon looks
		h.drv.Script("vm1", drivertest.Behavior{})
		h.open()
		synctest.Wait()
		h.wantState("vm1", states.Running)
		wantCause(t, "start", h.lastCause("vm1", states.Start), store.Cause{Kind: store.CauseUpdateResumed})

		// A daemon that lives through its update's stop restarts with the
		// plain cause.
		h.ok(h.e.Update(bg, "vm1", drivers.Spec{Env: map[string]string{"K": "3"}}))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		wantCause(t, "start", h.lastCause("vm1", states.Start), store.Cause{Kind: store.CauseUpdate})
	})
}
