package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// runningWithQEMU creates vm1 with spec, starts it with a VM driver
// process (Lima's QEMU) and returns its head once Running.
func runningWithQEMU(h *harness, spec drivers.Spec) VM {
	h.t.Helper()
	h.drv.Script("vm1", drivertest.Behavior{WithVMProcess: true})
	h.ok(h.e.Create(bg, "vm1", spec))
	h.ok(h.e.Start(bg, "vm1"))
	synctest.Wait()
	h.wantState("vm1", states.Running)
	head, err := h.e.Get("vm1")
	h.must(err)
	if head.VMProcess.IsZero() {
		h.t.Fatalf("the running VM's QEMU is not recorded:\n%s", h.logText("vm1"))
	}
	return head
}

// crashRecordedNotReaped kills the daemon (h.crash), makes vm1's agent
// die while its QEMU lives on (the orphan's identity is returned), and
// appends the records the killed daemon had written after the crash:
// crashed, then extra (a backoff, say). It leaves the store closed.
func crashRecordedNotReaped(h *harness, head VM, extra ...store.Record) drivers.Proc {
	h.t.Helper()
	h.crash()
	qemu := h.drv.Orphan("vm1")
	if qemu != head.VMProcess {
		h.t.Fatalf("the orphaned QEMU %+v is not the recorded one %+v", qemu, head.VMProcess)
	}
	st, err := store.Open(h.path, store.Options{NoSync: true})
	h.must(err)
	recs := append([]store.Record{{VM: "vm1", Event: states.Crashed, From: states.Running, To: states.Broken,
		Time: time.Now().UTC(), Cause: store.Cause{Kind: store.CauseAgentExit, Code: 1, PID: int64(head.Agent.PID)}}}, extra...)
	for _, r := range recs {
		if _, err := st.Append(context.Background(), store.Write{Record: r}); err != nil {
			h.t.Fatal(err)
		}
	}
	h.must(st.Crash())
	return qemu
}

// Storm seed 1796112387216138251 (LIFELINE_STORM_AGENT_DELAY=20ms), vm s7
// #869: the agent of a Running VM crashed, the daemon recorded crashed and
// was killed before the restart policy's backoff and before the reap,
// which would have killed Lima's QEMU; the agent was gone, its QEMU ran on.
// The next daemon's recovery recorded the backoff but reaped nothing, and
// the restart found the QEMU and gave up ("restart given up: ... cleanup:
// the VM driver process (QEMU) still runs"), Broken beside a QEMU nobody
// would kill. Recovery now asks the driver whether the recorded QEMU
// itself still runs (by identity) and kills exactly it before the policy
// runs; the restart succeeds.
func TestRecoveryReapsTheQEMULeftByACrashBeforeTheRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		head := runningWithQEMU(h, drivers.Spec{Restart: RestartOnFailure})
		qemu := crashRecordedNotReaped(h, head)

		h.open()
		synctest.Wait()
		if h.drv.DriverAlive(qemu) {
			t.Fatalf("after recovery, the crashed VM's QEMU pid %d still runs:\n%s", qemu.PID, h.logText("vm1"))
		}
		calls := h.drv.CallsFor("vm1")
		kill := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, "KillProc vm1") })
		if kill < 0 || !strings.Contains(calls[kill], "killed") {
			t.Fatalf("recovery did not kill the recorded QEMU by identity: calls %q", calls)
		}
		v, err := h.e.Get("vm1")
		h.must(err)
		if v.Event != states.Backoff || v.Deadline.IsZero() {
			t.Fatalf("after recovery: head %s %q, want the restart scheduled\n%s", v.Event, v.Reason, h.logText("vm1"))
		}
		time.Sleep(time.Until(v.Deadline))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		if v, _ := h.e.Get("vm1"); v.Agent == head.Agent || v.Agent.IsZero() {
			t.Fatalf("the VM runs agent %+v, not a restarted one:\n%s", v.Agent, h.logText("vm1"))
		}
		if strings.Contains(h.logText("vm1"), "given up") {
			t.Fatalf("the restart gave up:\n%s", h.logText("vm1"))
		}
	})
}

// The same with the backoff recorded too (the daemon died after the
// policy's decision, before the reap): the restart is due at its recorded
// time, and recovery reaps the recorded QEMU before it.
func TestRecoveryReapsTheQEMULeftByACrashAfterItsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		head := runningWithQEMU(h, drivers.Spec{Restart: RestartOnFailure})
		due := time.Now().UTC().Add(time.Second)
		qemu := crashRecordedNotReaped(h, head, store.Record{VM: "vm1", Event: states.Backoff, From: states.Broken, To: states.Broken,
			Time: time.Now().UTC(), Deadline: due,
			Cause: store.Cause{Kind: store.CauseRestartPolicy, N: 1, Limit: DefaultRestartLimit, Window: DefaultRestartWindow, Backoff: time.Second}})

		h.open()
		synctest.Wait()
		if h.drv.DriverAlive(qemu) {
			t.Fatalf("after recovery, the crashed VM's QEMU pid %d still runs:\n%s", qemu.PID, h.logText("vm1"))
		}
		time.Sleep(time.Until(due) + time.Millisecond)
		synctest.Wait()
		h.wantState("vm1", states.Running)
		if strings.Contains(h.logText("vm1"), "given up") {
			t.Fatalf("the restart gave up:\n%s", h.logText("vm1"))
		}
	})
}

// The recorded QEMU died while no daemon ran, and someone started the VM's
// QEMU again (limactl start): qemu.pid names a QEMU with the recorded pid
// but a later start time. It is not the recorded process: recovery leaves
// it alone (it never kills a process found through pid files), and the
// restart finds it and gives up, saying why.
func TestRecoveryLeavesANewerQEMUAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		head := runningWithQEMU(h, drivers.Spec{Restart: RestartOnFailure})
		qemu := crashRecordedNotReaped(h, head)
		users := h.drv.ReplaceOrphan("vm1")
		if users.PID != qemu.PID || users == qemu {
			t.Fatalf("setup: the user's QEMU %+v should hold the recorded pid with another start time (%+v)", users, qemu)
		}

		h.open()
		synctest.Wait()
		if !h.drv.DriverAlive(users) {
			t.Fatalf("recovery killed the user's QEMU pid %d, started after the recorded one:\n%q", users.PID, h.drv.CallsFor("vm1"))
		}
		for _, c := range h.drv.CallsFor("vm1") {
			if strings.HasPrefix(c, "KillProc") && !strings.Contains(c, "gone") {
				t.Fatalf("recovery killed a process: %s", c)
			}
		}
		v, err := h.e.Get("vm1")
		h.must(err)
		if !v.Deadline.IsZero() {
			time.Sleep(time.Until(v.Deadline))
			synctest.Wait()
		}
		if !h.drv.DriverAlive(users) {
			t.Fatalf("the restart killed the user's QEMU pid %d:\n%s", users.PID, h.logText("vm1"))
		}
		v, _ = h.e.Get("vm1")
		if v.State != states.Broken || !strings.Contains(v.Reason, "restart given up") || !strings.Contains(v.Reason, "VM driver process still runs") {
			t.Fatalf("head %s %s %q, want Broken with the restart given up over the running QEMU\n%s", v.State, v.Event, v.Reason, h.logText("vm1"))
		}
	})
}

// A Broken VM with no restart policy whose agent is gone but whose recorded
// QEMU still runs (its reap never happened) is reaped by identity at
// recovery, as a Broken VM with a live recorded agent is
// (TestRecoveryReapsBrokenVMWithLiveAgent); it stays Broken, and nothing is
// recorded.
func TestRecoveryReapsABrokenVMsLiveQEMU(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		head := runningWithQEMU(h, drivers.Spec{})
		qemu := crashRecordedNotReaped(h, head)
		n := len(h.recordsThenOpen())

		synctest.Wait()
		if h.drv.DriverAlive(qemu) {
			t.Fatalf("after recovery, the Broken VM's QEMU pid %d still runs:\n%q", qemu.PID, h.drv.CallsFor("vm1"))
		}
		h.wantState("vm1", states.Broken)
		if got := len(h.records("vm1")); got != n {
			t.Fatalf("recovery recorded %d records, want none:\n%s", got-n, h.logText("vm1"))
		}
	})
}

// recordsThenOpen reads vm1's records as the killed daemon left them,
// then opens the engine (recovery runs), and returns those records.
func (h *harness) recordsThenOpen() []store.Record {
	h.t.Helper()
	st, err := store.Open(h.path, store.Options{NoSync: true})
	h.must(err)
	var recs []store.Record
	h.must(st.VMRecords("vm1", 1, func(r store.Record) error { recs = append(recs, r); return nil }))
	h.must(st.Crash())
	h.open()
	return recs
}

// A stopping VM whose QEMU appeared while no daemon ran: recovery finds the
// recorded agent alive and, through the driver, its VM driver process,
// which no record named, and records it (spawned self-loop) before it
// signals. Its reason said "agent found without a spawn record", wrong:
// the agent's spawn was recorded. It now names the VM driver process.
func TestRecoveryFoundVMProcessReasonNamesIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{NeverRunning: true, IgnoreInterrupt: true, VMProcessAfter: time.Hour})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		h.wantState("vm1", states.Stopping)
		h.crash()
		if !h.drv.ShowDriver("vm1") {
			t.Fatal("setup: no live agent to give a QEMU")
		}
		qemu := h.drv.LiveProcs("vm1")[0].VMProcess
		h.open()
		synctest.Wait()
		recs := h.records("vm1")
		i := slices.IndexFunc(recs, func(r store.Record) bool { return r.Event == states.Spawned && r.From == states.Stopping })
		if i < 0 {
			t.Fatalf("recovery recorded no spawned self-loop for the QEMU:\n%s", h.logText("vm1"))
		}
		r := recs[i]
		if r.VMProcess != qemu {
			t.Fatalf("the spawned record names VM driver %+v, want %+v", r.VMProcess, qemu)
		}
		if strings.Contains(r.Reason, "without a spawn record") || !strings.Contains(r.Reason, fmt.Sprintf("VM driver pid %d", qemu.PID)) {
			t.Fatalf("the spawned record's reason is %q; want it to name the VM driver pid %d found", r.Reason, qemu.PID)
		}
	})
}
