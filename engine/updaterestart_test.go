package engine

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
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
