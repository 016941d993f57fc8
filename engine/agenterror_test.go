package engine

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
)

// TestDegradedWhileRunningShowsInStatus: an agent that reports an error
// while its VM runs (Lima: "degraded") moves nothing and records nothing,
// but the VM's status says it, degraded flag, words and time, until the
// VM leaves Running.
func TestDegradedWhileRunningShowsInStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		before := len(h.records("vm1"))
		time.Sleep(3 * time.Second) // virtual: the report comes later than Running
		at := time.Now()
		h.drv.Report("vm1", drivers.Observation{Kind: drivers.ObsFailed, Degraded: true, Reason: "degraded: port forwarding failed"})
		synctest.Wait()
		h.wantState("vm1", states.Running)
		if n := len(h.records("vm1")); n != before {
			t.Errorf("%d records after the report, want %d: nothing is recorded", n, before)
		}
		v, err := h.e.Get("vm1")
		if err != nil {
			t.Fatal(err)
		}
		if !v.Degraded || v.AgentError != "degraded: port forwarding failed" || !v.AgentErrorAt.Equal(at) {
			t.Errorf("status: degraded %v, agent error %q at %v; want true, the driver's words, at %v", v.Degraded, v.AgentError, v.AgentErrorAt, at)
		}

		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		if v, _ := h.e.Get("vm1"); v.Degraded || v.AgentError != "" || !v.AgentErrorAt.IsZero() {
			t.Errorf("after the stop: degraded %v, agent error %q at %v; want none", v.Degraded, v.AgentError, v.AgentErrorAt)
		}
	})
}
