package engine

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Storm seed 1796112387216138251 (agents started ~15 ms late), vm s7: the
// agent of a Running VM crashed, the daemon recorded crashed and was
// killed before the restart policy's backoff and before the reap, which
// would have killed Lima's QEMU; the agent was gone, its QEMU ran on. The
// next daemon's recovery recorded the backoff but reaped nothing, and the
// restart found the QEMU running and gave up ("restart given up: ...
// cleanup: the VM driver process (QEMU) still runs"). Recovery of a VM
// whose log ends in crashed reaps what is left of it, by identity, before
// the restart is due.
func TestRecoveryReapsTheQEMULeftByACrashBeforeTheRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{WithVMProcess: true})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.drv.Report("vm1", drivers.Observation{Kind: drivers.ObsRunning})
		synctest.Wait()
		h.wantState("vm1", states.Running)
		head, err := h.e.Get("vm1")
		h.must(err)
		if head.VMProcess.IsZero() {
			t.Fatalf("the running VM's QEMU is not recorded:\n%s", h.logText("vm1"))
		}

		// The daemon dies; the agent exits, its QEMU lives on; the daemon
		// had recorded the crash, and nothing after it.
		h.crash()
		qemu := h.drv.Orphan("vm1")
		if qemu != head.VMProcess {
			t.Fatalf("the orphaned QEMU %+v is not the recorded one %+v", qemu, head.VMProcess)
		}
		st, err := store.Open(h.path, store.Options{NoSync: true})
		h.must(err)
		if _, err := st.Append(context.Background(), store.Write{Record: store.Record{VM: "vm1", Event: states.Crashed, From: states.Running, To: states.Broken,
			Time: time.Now().UTC(), Cause: store.Cause{Kind: store.CauseAgentExit, Code: 1, PID: int64(head.Agent.PID)}}}); err != nil {
			t.Fatal(err)
		}
		h.must(st.Crash())

		h.open()
		synctest.Wait()
		if h.drv.DriverAlive(qemu) {
			t.Fatalf("after recovery, the crashed VM's QEMU pid %d still runs:\n%s", qemu.PID, h.logText("vm1"))
		}
		v, err := h.e.Get("vm1")
		h.must(err)
		if v.Event != states.Backoff || v.Deadline.IsZero() {
			t.Fatalf("after recovery: head %s %q, want the restart scheduled\n%s", v.Event, v.Reason, h.logText("vm1"))
		}
		time.Sleep(time.Until(v.Deadline))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		if v, _ := h.e.Get("vm1"); v.Agent == head.Agent {
			t.Fatalf("the VM runs its crashed agent pid %d, not a restarted one:\n%s", head.Agent.PID, h.logText("vm1"))
		}
	})
}
