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

// Storm run seed 1796072206977678393, vm s5: the daemon died after a
// crash's record and before the restart policy's backoff record (it was
// reaping the VM). The next daemon must not lose the restart: recovery
// applies the policy to a VM whose log ends in crashed.
func TestRecoveryAppliesRestartPolicyAfterUnrecordedBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.wrap = func(s Store) Store {
			return &failingStore{Store: s, match: func(w store.Write) bool { return w.Record.Event == states.Backoff }}
		}
		h.restart()
		h.drv.Script("vm1", drivertest.Behavior{CrashAfter: 10 * time.Second})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		time.Sleep(10 * time.Second) // the crash; its backoff record fails
		synctest.Wait()
		v, err := h.e.Get("vm1")
		h.must(err)
		if v.State != states.Broken || v.Event != states.Crashed {
			t.Fatalf("after the crash: %s by %s, want Broken by crashed", v.State, v.Event)
		}
		h.wrap = nil
		h.restart()
		synctest.Wait()
		v, err = h.e.Get("vm1")
		h.must(err)
		if v.Event != states.Backoff || v.Deadline.IsZero() {
			t.Fatalf("after recovery: head %s %q deadline %v; want the restart scheduled\n%s", v.Event, v.Reason, v.Deadline, h.logText("vm1"))
		}
		time.Sleep(time.Until(v.Deadline))
		synctest.Wait()
		h.wantState("vm1", states.Running)
	})
}
