package engine

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
)

const limactlStopEvidence = `the host agent logged "Received SIGINT, shutting down the host agent"`

// A Running VM with restart on-failure whose agent someone else stopped
// (`limactl stop`) is Stopped through stopped_outside, with the evidence
// in the reason and its identities cleared, and the restart policy leaves
// it alone: no restart long after the backoff would have passed.
func TestStopFromOutsideIsStoppedNotRestarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{WithVMProcess: true})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)

		h.drv.StopOutside("vm1", 0, limactlStopEvidence)
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		v, err := h.e.Get("vm1")
		h.must(err)
		if v.Event != states.StoppedOutside || !strings.Contains(v.Reason, limactlStopEvidence) ||
			!strings.Contains(v.Reason, "the VM was Running") || !strings.Contains(v.Reason, "exit status 0") {
			t.Errorf("head %s %q, want stopped_outside naming the evidence, the state and the exit", v.Event, v.Reason)
		}
		if !v.Agent.IsZero() || !v.VMProcess.IsZero() {
			t.Errorf("a Stopped VM keeps identities: agent %+v driver %+v", v.Agent, v.VMProcess)
		}
		// Nothing is done to the OS: the record is all.
		calls := h.drv.CallsFor("vm1")
		if got := calls[len(calls)-1]; got != "Watch vm1 pid=1000" {
			t.Errorf("last driver call %q, want the watch that saw the exit", got)
		}

		time.Sleep(DefaultRestartBackoffMax + time.Hour)
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "stopped_outside:Stopped")
		if n := h.drv.Count("vm1", "Spawn"); n != 1 {
			t.Errorf("%d spawns, want 1: the restart policy restarted a VM stopped from outside", n)
		}

		// lifeline can start it again.
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)
	})
}

// The same exit without evidence is the crash it always was, and the
// restart policy restarts it: the evidence alone makes the difference.
func TestExitWithoutOutsideEvidenceIsACrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.drv.Exit("vm1", 0, `exit status 0, after "exiting"`)
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		time.Sleep(2 * DefaultRestartBackoff)
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running",
			"crashed:Broken", "backoff:Broken", "restart:Starting", "spawned:Starting", "running:Running")
	})
}

// An agent stopped from outside while Starting (Lima calls an instance
// Running as soon as its QEMU runs, so `limactl stop` works before the
// guest is up) is Stopped too, not a failed start.
func TestStopFromOutsideWhileStarting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{NeverRunning: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Starting)
		h.drv.StopOutside("vm1", 0, limactlStopEvidence)
		synctest.Wait()
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "stopped_outside:Stopped")
		if v, _ := h.e.Get("vm1"); !strings.Contains(v.Reason, "the VM was Starting") {
			t.Errorf("reason %q does not say the VM was Starting", v.Reason)
		}
		time.Sleep(2 * testStart) // the start deadline is void
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
	})
}

// While lifeline stops the VM itself, the agent's exit is its own stop's
// end (exited), whatever the driver's evidence: lifeline did send a
// signal.
func TestOutsideEvidenceWhileStoppingIsLifelinesOwnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		h.wantState("vm1", states.Stopping)
		h.drv.StopOutside("vm1", 0, limactlStopEvidence)
		synctest.Wait()
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "stop:Stopping", "exited:Stopped")
	})
}
