package engine

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
)

// A Broken VM whose reap did not finish (the daemon died between the
// start_failed or crashed record and the end of the kill, e.g. with the
// Lima agent's group SIGSTOPped by Freeze, or the kill failed) still has
// its recorded agent alive at the next start. Recovery reaps it again,
// by identity. Before, Broken VMs were skipped at recovery, and the
// agent (a frozen one forever) ran on beside a Broken record.
func TestRecoveryReapsBrokenVMWithLiveAgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{NeverRunning: true, SurviveKill: true})
		h.ok(h.e.Start(bg, "vm1"))
		time.Sleep(testStart + time.Second)
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		if len(h.drv.Alive("vm1")) == 0 {
			t.Fatal("setup: the agent did not survive the reap")
		}
		h.drv.Script("vm1", drivertest.Behavior{})
		h.restart()
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		if alive := h.drv.Alive("vm1"); len(alive) != 0 {
			t.Fatalf("after recovery, the Broken VM's recorded agent still runs: %v", alive)
		}
	})
}
