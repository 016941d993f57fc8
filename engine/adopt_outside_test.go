package engine

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// A Stopped VM whose agent someone else starts (`limactl start`) is
// adopted within one poll period: adopted, Stopped → Running, both
// identities in the record and the cause started_outside. It is then
// watched as any Running VM: a later `limactl stop` is stopped_outside,
// and a second outside start is adopted again.
func TestStartFromOutsideIsAdoptedWithBothIdentities(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		synctest.Wait()
		time.Sleep(time.Second)

		procs := h.drv.StartOutside("vm1")
		start := time.Now()
		h.wantStateWithin("vm1", states.Running, DefaultOutsidePoll)
		if took := time.Since(start); took > DefaultOutsidePoll {
			t.Errorf("adopted after %v, want within the poll period %v", took, DefaultOutsidePoll)
		}
		recs := h.records("vm1")
		r := recs[len(recs)-1]
		if r.Event != states.Adopted || r.From != states.Stopped || r.To != states.Running || r.Cause.Kind != store.CauseStartedOutside {
			t.Fatalf("last record %s %s→%s (%s), want adopted Stopped→Running started_outside", r.Event, r.From, r.To, r.Cause.Kind)
		}
		if r.Agent != procs.Agent || r.VMProcess != procs.VMProcess || r.VMProcess.IsZero() {
			t.Errorf("record names agent %+v driver %+v, want %+v and %+v", r.Agent, r.VMProcess, procs.Agent, procs.VMProcess)
		}
		if !strings.Contains(r.Reason, "started from outside lifeline") {
			t.Errorf("reason %q does not say who started it", r.Reason)
		}
		if n := h.drv.Count("vm1", "Spawn"); n != 0 {
			t.Errorf("%d spawns: lifeline started an agent someone else runs", n)
		}

		// Watched as any Running VM: limactl stop is a stop from outside.
		h.drv.StopOutside("vm1", 0, limactlStopEvidence)
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		time.Sleep(time.Second)
		h.drv.StartOutside("vm1")
		h.wantStateWithin("vm1", states.Running, DefaultOutsidePoll)
		h.wantEvents("vm1", "create:Stopped", "adopted:Running", "stopped_outside:Stopped", "adopted:Running")
	})
}

// An adopted VM that crashes goes to the restart policy, which restarts
// it: lifeline owns it from the adoption on.
func TestAdoptedFromOutsideCrashIsRestarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		time.Sleep(time.Second)
		h.drv.StartOutside("vm1")
		h.wantStateWithin("vm1", states.Running, DefaultOutsidePoll)
		h.drv.Exit("vm1", 1, "exit status 1")
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		time.Sleep(2 * DefaultRestartBackoff)
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "adopted:Running", "crashed:Broken", "backoff:Broken", "restart:Starting", "spawned:Starting", "running:Running")
	})
}

// An agent that started before the VM's last record is an earlier
// incarnation's: it is never adopted, however long it runs.
func TestAgentStartedBeforeLastRecordIsNotAdopted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{}))
		time.Sleep(time.Second)
		h.drv.StartOutside("vm1")
		h.e.mu.Lock()
		v := h.e.vms["vm1"]
		h.e.mu.Unlock()
		// A record after the agent started (the poll is held off by the
		// VM's lock until it is written).
		v.mu.Lock()
		time.Sleep(time.Millisecond)
		_, err := h.e.transition(bg, v, states.Update, change{cause: store.Cause{Kind: store.CauseRequested}})
		v.mu.Unlock()
		h.must(err)
		time.Sleep(10 * DefaultOutsidePoll)
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		h.wantEvents("vm1", "create:Stopped", "update:Stopped")
	})
}

// Never adopt while lifeline itself starts the VM: an agent lifeline
// spawns that takes long to report running is its own start's, recorded
// spawned then running, never adopted.
func TestOwnSlowStartIsNotAdopted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{RunningAfter: 4 * DefaultOutsidePoll, WithVMProcess: true})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{}))
		h.ok(h.e.Start(bg, "vm1"))
		time.Sleep(5 * DefaultOutsidePoll)
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running")
	})
}

// A Stopped VM whose definition someone else removed (`limactl delete`),
// after the engine saw it, is deleted: delete, Stopped → Absent, with the
// cause deleted_outside; its name is free for a create.
func TestDeleteFromOutsideIsRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{}))
		time.Sleep(2 * DefaultOutsidePoll) // the poll sees it defined
		h.drv.DeleteOutside("vm1")
		time.Sleep(DefaultOutsidePoll)
		synctest.Wait()
		if _, err := h.e.Get("vm1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after limactl delete: %v, want not found", err)
		}
		recs := h.records("vm1")
		r := recs[len(recs)-1]
		if r.Event != states.Delete || r.To != states.Absent || r.Cause.Kind != store.CauseDeletedOutside ||
			!strings.Contains(r.Reason, "deleted from outside lifeline") {
			t.Fatalf("last record %s →%s %s %q, want delete →Absent deleted_outside", r.Event, r.To, r.Cause.Kind, r.Reason)
		}
		// What is left of its files (the daemon's blank disk) is removed
		// after the record, so a re-create gets files of its own.
		if n := h.drv.Count("vm1", "Remove"); n != 1 {
			t.Errorf("%d Remove calls after the delete from outside, want 1", n)
		}
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{}))
		h.wantState("vm1", states.Stopped)
	})
}

// A definition the engine never saw (a create whose define failed) is
// not taken for a delete from outside.
func TestNeverSeenDefinitionIsNotADelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{}))
		h.drv.DeleteOutside("vm1")
		time.Sleep(10 * DefaultOutsidePoll)
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
	})
}

// lifeline's status and list agree with the instance's state (the
// scripted driver's live agents) after each step of a script that mixes
// lifeline's commands and limactl's.
func TestStatusAndListAgreeWithLimactlAtEachStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{WithVMProcess: true})
		agree := func(step string, want states.State) {
			t.Helper()
			synctest.Wait()
			v, err := h.e.Get("vm1")
			h.must(err)
			var listed states.State
			for _, l := range h.e.List() {
				if l.VM == "vm1" {
					listed = l.State
				}
			}
			live := h.drv.LiveProcs("vm1")
			instance := states.Stopped
			if len(live) == 1 {
				instance = states.Running
			}
			if v.State != want || listed != want || instance != want {
				t.Fatalf("after %s: status %s, list %s, instance %s (%d agents), want all %s", step, v.State, listed, instance, len(live), want)
			}
			if want == states.Running && (v.Agent != live[0].Agent || v.VMProcess != live[0].VMProcess) {
				t.Fatalf("after %s: status names agent %+v driver %+v, the instance runs %+v", step, v.Agent, v.VMProcess, live[0])
			}
		}
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		agree("lifeline create", states.Stopped)
		h.ok(h.e.Start(bg, "vm1"))
		agree("lifeline start", states.Running)
		h.drv.StopOutside("vm1", 0, limactlStopEvidence)
		agree("limactl stop", states.Stopped)
		time.Sleep(DefaultRestartBackoffMax)
		agree("the restart backoff", states.Stopped)
		h.drv.StartOutside("vm1")
		time.Sleep(DefaultOutsidePoll)
		agree("limactl start", states.Running)
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		agree("lifeline stop", states.Stopped)
		time.Sleep(time.Second)
		h.drv.StartOutside("vm1")
		time.Sleep(DefaultOutsidePoll)
		agree("limactl start again", states.Running)
		h.drv.StopOutside("vm1", 0, "qemu.pid and ha.pid removed (limactl stop -f)")
		agree("limactl stop -f", states.Stopped)
		h.ok(h.e.Start(bg, "vm1"))
		agree("lifeline start again", states.Running)
	})
}

// wantStateWithin polls vm's state on the virtual clock until it is want,
// for at most d.
func (h *harness) wantStateWithin(vm string, want states.State, d time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		synctest.Wait()
		if h.state(vm) == want {
			return
		}
		if !time.Now().Before(deadline) {
			h.t.Fatalf("vm %s: %s after %v, want %s", vm, h.state(vm), d, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
