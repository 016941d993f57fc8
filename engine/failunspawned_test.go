package engine

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
)

// A restart whose spawn fails (Lima refuses it over a live QEMU of the
// crashed incarnation) kills what the log named for that incarnation, by
// its recorded identity, and nothing found without one.
func TestFailedRestartKillsOnlyThePreviousIncarnation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{CrashAfter: 10 * time.Second})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.drv.Script("vm1", drivertest.Behavior{SpawnErr: errors.New("spawn refused: driver pid 77 (qemu.pid)")})
		time.Sleep(10 * time.Second) // the crash, then its reap
		synctest.Wait()
		kills := h.drv.Count("vm1", "KillTree")
		time.Sleep(2 * time.Second) // the restart, whose spawn fails
		synctest.Wait()
		v, _ := h.e.Get("vm1")
		if v.State != states.Broken || v.Event != states.StartFailed {
			t.Fatalf("head %s %s %q, want Broken by start_failed", v.State, v.Event, v.Reason)
		}
		var last drivertest.Call
		for _, c := range h.drv.Calls() {
			if c.VM == "vm1" && c.Op == "KillTree" {
				last = c
			}
		}
		if h.drv.Count("vm1", "KillTree") != kills+1 || last.PID != 1000 {
			t.Fatalf("KillTree calls %d (before the restart %d), last %v; want one more, for the crashed agent pid 1000", h.drv.Count("vm1", "KillTree"), kills, last)
		}
	})
}
