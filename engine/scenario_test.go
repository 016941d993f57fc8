package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

var bg = context.Background()

func TestStartReachesRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{RunningAfter: 2 * time.Second})
		start := time.Now()
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Starting)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running")
		recs := h.records("vm1")
		if want := start.Add(testStart).UTC(); !recs[1].Deadline.Equal(want) {
			t.Errorf("Starting deadline %v, want %v", recs[1].Deadline, want)
		}
		if recs[2].Agent.PID == 0 || recs[2].Agent.StartTime == 0 {
			t.Errorf("spawned record has no identity: %+v", recs[2].Agent)
		}
		if got := h.drv.CallsFor("vm1"); strings.Join(got, ";") != "Define vm1;Define vm1;Spawn vm1 pid=1000;Watch vm1 pid=1000" {
			t.Errorf("driver calls %q", got)
		}
	})
}

func TestStopExits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "stop:Stopping", "exited:Stopped")
		if n := h.drv.Count("vm1", "Interrupt"); n != 1 {
			t.Errorf("%d interrupts, want 1", n)
		}
		if n := h.drv.Count("vm1", "Terminate"); n != 0 {
			t.Errorf("graceful stop sent %d terminates", n)
		}
		if len(h.drv.Alive("vm1")) != 0 {
			t.Errorf("agent still alive: %v", h.drv.Alive("vm1"))
		}
		v, _ := h.e.Get("vm1")
		if !v.Agent.IsZero() {
			t.Errorf("Stopped head keeps identity %+v", v.Agent)
		}
	})
}

// An agent that ignores SIGINT is force-stopped exactly at its graceful
// deadline; the log shows which path it took.
func TestStopIgnoredInterruptEscalatesAtDeadline(t *testing.T) {
	for _, ignoreTerm := range []bool{false, true} {
		t.Run(map[bool]string{false: "terminate works", true: "terminate ignored"}[ignoreTerm], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.create("vm1", drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: ignoreTerm})
				h.ok(h.e.Start(bg, "vm1"))
				synctest.Wait()
				stopAt := time.Now()
				h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
				synctest.Wait()
				h.wantState("vm1", states.Stopping)
				time.Sleep(testGraceful - time.Nanosecond)
				synctest.Wait()
				h.wantState("vm1", states.Stopping)
				time.Sleep(time.Nanosecond)
				synctest.Wait()
				if ignoreTerm {
					h.wantState("vm1", states.ForceStopping)
					time.Sleep(testTerminate)
					synctest.Wait()
				}
				h.wantState("vm1", states.Stopped)
				h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "stop:Stopping", "stop_timeout:ForceStopping", "exited:Stopped")
				recs := h.records("vm1")
				if got, want := recs[5].Time, stopAt.Add(testGraceful).UTC(); !got.Equal(want) {
					t.Errorf("stop_timeout at %v, want the deadline %v", got, want)
				}
				if !strings.Contains(recs[5].Reason, "ignored the interrupt") {
					t.Errorf("stop_timeout reason %q", recs[5].Reason)
				}
				calls := strings.Join(h.drv.CallsFor("vm1"), ";")
				if !strings.Contains(calls, "Interrupt vm1 pid=1000 ignored;") || !strings.Contains(calls, "Terminate vm1 pid=1000") {
					t.Errorf("escalation calls: %s", calls)
				}
				if ignoreTerm != strings.Contains(calls, "KillTree vm1 pid=1000;") {
					t.Errorf("kill of the tree (ignoreTerm=%v): %s", ignoreTerm, calls)
				}
				if len(h.drv.Alive("vm1")) != 0 {
					t.Error("agent survived")
				}
			})
		})
	}
}

func TestForceStopSurvivorIsBroken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{SurviveKill: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.ok(h.e.Stop(bg, "vm1", StopOptions{Force: true}))
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "force_stop:ForceStopping", "kill_failed:Broken")
		v, _ := h.e.Get("vm1")
		if !strings.Contains(v.Reason, "pid 1000") || !strings.Contains(v.Reason, "survived") {
			t.Errorf("reason %q does not name the pid and the cause", v.Reason)
		}
		if v.Agent.PID != 1000 {
			t.Errorf("Broken head lost the identity: %+v", v.Agent)
		}
		// Reset refuses while the survivor lives.
		if _, err := h.e.Reset(bg, "vm1"); !errors.Is(err, ErrStillAlive) {
			t.Errorf("reset with a live survivor: %v", err)
		}
		// Once it is gone, reset works.
		h.drv.Script("vm1", drivertest.Behavior{})
		h.ok(h.e.Stop(bg, "vm1", StopOptions{Force: true}))
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
	})
}

func TestCrashWhileRunningIsBroken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{CrashAfter: 5 * time.Second, WithVMProcess: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "crashed:Broken")
		v, _ := h.e.Get("vm1")
		if !strings.Contains(v.Reason, "exit status 1") {
			t.Errorf("reason %q", v.Reason)
		}
		if v.VMProcess.PID == 0 {
			t.Error("the VM driver process identity was not recorded")
		}
		// The tree is reaped (a driver child may outlive its agent).
		if h.drv.Count("vm1", "KillTree") != 1 || h.drv.Count("vm1", "Cleanup") != 1 {
			t.Errorf("no reap after crash: %v", h.drv.CallsFor("vm1"))
		}
		h.ok(h.e.Reset(bg, "vm1"))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)
	})
}

func TestStopWhileStarting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{NeverRunning: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Starting)
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "stop:Stopping", "exited:Stopped")
		// The start deadline of the old Starting must not fire later.
		time.Sleep(2 * testStart)
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
	})
}

func TestStartTimeoutAndFailures(t *testing.T) {
	cases := []struct {
		name   string
		b      drivertest.Behavior
		after  time.Duration
		reason string
	}{
		{"timeout", drivertest.Behavior{NeverRunning: true}, testStart, "start timeout"},
		{"spawn fails", drivertest.Behavior{SpawnErr: errors.New("exec: limactl: not found")}, 0, "spawn: exec: limactl: not found"},
		{"agent reports error", drivertest.Behavior{FailWith: "degraded: ssh not ready"}, 0, "degraded: ssh not ready"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.create("vm1", c.b)
				h.ok(h.e.Start(bg, "vm1"))
				synctest.Wait()
				time.Sleep(c.after)
				synctest.Wait()
				h.wantState("vm1", states.Broken)
				v, _ := h.e.Get("vm1")
				if v.Event != states.StartFailed || !strings.Contains(v.Reason, c.reason) {
					t.Errorf("ended by %s %q, want start_failed %q", v.Event, v.Reason, c.reason)
				}
				if len(h.drv.Alive("vm1")) != 0 {
					t.Errorf("a failed start left the agent running")
				}
			})
		})
	}
}

func TestRejectedCommands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		_, err := h.e.Stop(bg, "vm1", StopOptions{})
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.VM != "vm1" || rej.State != states.Stopped || rej.Event != states.Stop {
			t.Fatalf("stop of a Stopped vm: %v", err)
		}
		var ite *states.InvalidTransitionError
		if !errors.As(err, &ite) || ite.Event != states.Stop {
			t.Errorf("rejection does not carry the table's error: %v", err)
		}
		if !strings.Contains(err.Error(), `vm "vm1"`) || !strings.Contains(err.Error(), "Stopped") {
			t.Errorf("message %q does not name the vm and its state", err)
		}
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		if _, err := h.e.Delete(bg, "vm1"); !errors.As(err, &rej) || rej.State != states.Running {
			t.Errorf("delete of a Running vm: %v", err)
		}
		if _, err := h.e.Start(bg, "vm1"); !errors.As(err, &rej) {
			t.Errorf("start of a Running vm: %v", err)
		}
		if _, err := h.e.Create(bg, "vm1", specOf()); !errors.Is(err, ErrExists) {
			t.Errorf("create of an existing vm: %v", err)
		}
		if _, err := h.e.Start(bg, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("start of an unknown vm: %v", err)
		}
		if len(h.records("vm1")) != 4 {
			t.Errorf("a rejected command wrote a record:\n%s", h.logText("vm1"))
		}
	})
}

func TestNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		for _, bad := range []string{"", "../x", "a/b", "vm[1]", strings.Repeat("a", 77), strings.Repeat("a", 300), "a\x00b", "a\nb", "-a", ".a", "..", "ä"} {
			_, err := h.e.Create(bg, bad, specOf())
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("Create(%q) = %v, want ErrInvalidName", bad, err)
			}
		}
		for _, good := range []string{"default", "vm1", "a.b-c_d", strings.Repeat("a", 76)} {
			h.ok(h.e.Create(bg, good, specOf()))
		}
		if n := len(h.e.List()); n != 4 {
			t.Errorf("%d vms listed, want 4", n)
		}
	})
}

// The engine keeps only the name rule every driver shares; Lima's narrower
// one (single separators between letters and digits) is the Lima driver's
// own check (drivers/lima: TestValidateSpecKeepsLimasNameRule).
func TestNameRuleIsGeneric(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		for _, good := range []string{"a..b", "web_", "x--y", "0.9"} {
			if err := ValidateName(good); err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil: Lima's rule is not the engine's", good, err)
			}
			h.ok(h.e.Create(bg, good, specOf()))
		}
	})
}

func TestDeleteAndRecreate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Delete(bg, "vm1"))
		if _, err := h.e.Get("vm1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted vm still visible: %v", err)
		}
		h.ok(h.e.Create(bg, "vm1", specOf()))
		h.wantEvents("vm1", "create:Stopped", "delete:Absent", "create:Stopped")
		recs := h.records("vm1")
		for i, r := range recs {
			if r.VMSeq != uint64(i+1) {
				t.Errorf("record %d has vm seq %d", i, r.VMSeq)
			}
		}
		h.restart()
		h.wantState("vm1", states.Stopped)
	})
}

// TestNoEffectWithoutRecord: when the store cannot write, the engine does
// not touch the process and says so.
func TestNoEffectWithoutRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.e.Close()
		fs := &failingStore{Store: h.st, n: 0}
		e, err := Open(bg, Options{Store: fs, Driver: h.drv, GracefulTimeout: testGraceful})
		h.must(err)
		defer e.Close()
		h.e = e
		before := len(h.drv.Calls())
		_, err = e.Stop(bg, "vm1", StopOptions{})
		if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), `vm "vm1"`) {
			t.Errorf("stop with a failing store: %v", err)
		}
		synctest.Wait()
		for _, c := range h.drv.Calls()[before:] {
			if c.Op != "Lookup" && c.Op != "Watch" {
				t.Errorf("effect without a record: %v", c)
			}
		}
		if len(h.drv.Alive("vm1")) != 1 {
			t.Error("the agent was stopped although Stopping was never recorded")
		}
	})
}

func TestSubscribeNoGapNoDuplicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		for _, vm := range []string{"a", "b", "c"} {
			h.create(vm, drivertest.Behavior{})
		}
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		sub, err := h.e.Subscribe(ctx, 2)
		h.must(err)
		for _, vm := range []string{"a", "b", "c"} {
			go func() { h.ok(h.e.Start(bg, vm)) }()
		}
		synctest.Wait()
		for _, vm := range []string{"a", "b", "c"} {
			h.ok(h.e.Stop(bg, vm, StopOptions{}))
		}
		synctest.Wait()
		// The subscriber read nothing yet: everything since seq 2 is
		// history or queued live records, and must come out once, in order.
		last := h.st.LastSeq()
		var got []uint64
		for r := range sub.C {
			got = append(got, r.Seq)
			if r.Seq == last {
				break
			}
		}
		if len(got) == 0 || got[0] != 2 {
			t.Fatalf("first delivered seq %v", got)
		}
		for i := 1; i < len(got); i++ {
			if got[i] != got[i-1]+1 {
				t.Fatalf("gap or duplicate: %v", got)
			}
		}
		if got[len(got)-1] != last {
			t.Errorf("delivered up to %d of %d", got[len(got)-1], last)
		}
	})
}

func specOf() drivers.Spec { return drivers.Spec{} }

func TestWaitFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{RunningAfter: 5 * time.Second})
		h.ok(h.e.Start(bg, "vm1"))
		got, err := h.e.WaitFor(bg, "vm1", func(h store.Head) bool { return h.State == states.Running })
		h.must(err)
		if got.State != states.Running || got.Event != states.EventRunning {
			t.Errorf("WaitFor returned %+v", got)
		}
		ctx, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		_, err = h.e.WaitFor(ctx, "vm1", func(h store.Head) bool { return h.State == states.Broken })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("bounded wait: %v", err)
		}
	})
}

// TestWaitForSince: a wait from a command's seq sees a state the VM passed
// through after it, though the VM has moved on; with no record after the
// seq, the current head counts.
func TestWaitForSince(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		start, err := h.e.Start(bg, "vm1")
		h.must(err)
		synctest.Wait()
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		running := func(h store.Head) bool { return h.State == states.Running }
		got, err := h.e.WaitForSince(bg, "vm1", start.Seq, running)
		h.must(err)
		if got.State != states.Running || got.Event != states.EventRunning || got.Seq <= start.Seq {
			t.Errorf("WaitForSince(%d) returned %+v, want the running record after it", start.Seq, got)
		}
		v, _ := h.e.Get("vm1")
		got, err = h.e.WaitForSince(bg, "vm1", v.Seq, func(h store.Head) bool { return h.State == states.Stopped })
		if err != nil || got.Seq != v.Seq {
			t.Errorf("nothing after seq %d: %+v %v, want the current head", v.Seq, got, err)
		}
		ctx, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		if _, err := h.e.WaitForSince(ctx, "vm1", v.Seq, running); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("bounded wait from the last seq: %v", err)
		}
	})
}

// TestVMNamesItself: a snapshot carries its VM's name as a field of its
// own, from Get and List alike.
func TestVMNamesItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.create("vm2", drivertest.Behavior{})
		v, err := h.e.Get("vm1")
		h.must(err)
		if v.Name != "vm1" {
			t.Errorf("Get(vm1).Name = %q", v.Name)
		}
		for i, v := range h.e.List() {
			if want := []string{"vm1", "vm2"}[i]; v.Name != want {
				t.Errorf("List()[%d].Name = %q, want %q", i, v.Name, want)
			}
		}
	})
}

func TestShutdownStopsAllInParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		for _, vm := range []string{"a", "b", "c", "d"} {
			h.create(vm, drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true})
			h.ok(h.e.Start(bg, vm))
		}
		synctest.Wait()
		start := time.Now()
		h.must(h.e.Shutdown(bg))
		if took := time.Since(start); took != testGraceful+testTerminate {
			t.Errorf("shutdown of 4 stubborn VMs took %v, want one graceful timeout plus the terminate grace (%v)", took, testGraceful+testTerminate)
		}
		for _, vm := range []string{"a", "b", "c", "d"} {
			if len(h.drv.Alive(vm)) != 0 {
				t.Errorf("%s still alive", vm)
			}
		}
	})
}

func TestUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		newSpec := drivers.Spec{Env: map[string]string{"K": "2"}}

		// Stopped: the definition is rewritten, nothing runs.
		h.ok(h.e.Update(bg, "vm1", newSpec))
		h.wantState("vm1", states.Stopped)
		if n := h.drv.Count("vm1", "Define"); n != 2 {
			t.Errorf("%d defines, want create's and update's", n)
		}

		// Running: recorded, then stopped and started again.
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		running := drivers.Spec{Env: map[string]string{"K": "3"}}
		h.ok(h.e.Update(bg, "vm1", running))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "update:Stopped", "start:Starting", "spawned:Starting", "running:Running",
			"update:Running", "stop:Stopping", "exited:Stopped", "start:Starting", "spawned:Starting", "running:Running")
		v, _ := h.e.Get("vm1")
		if v.Spec.Env["K"] != "3" {
			t.Errorf("spec after update %v", v.Spec)
		}
		recs := h.records("vm1")
		if recs[5].SpecHash.IsZero() || recs[5].SpecHash == recs[1].SpecHash {
			t.Errorf("update record spec hash %v (previous %v)", recs[5].SpecHash, recs[1].SpecHash)
		}

		// Stopping: not lost, applies at the next start; the stop goes on.
		h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		h.ok(h.e.Update(bg, "vm1", drivers.Spec{Env: map[string]string{"K": "4"}}))
		time.Sleep(testGraceful)
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		h.restart()
		v, _ = h.e.Get("vm1")
		if v.Spec.Env["K"] != "4" {
			t.Errorf("update while Stopping was lost: spec %v", v.Spec)
		}
	})
}

// A crashed VM with restart on-failure comes back after a doubling backoff;
// one crash too many leaves it Broken with "restart limit reached". A daemon
// restarted during a backoff honours the recorded due time.
func TestRestartPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{CrashAfter: 10 * time.Second})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		var backoffs []time.Duration
		for i := 0; i < DefaultRestartLimit; i++ {
			time.Sleep(10 * time.Second) // crash
			synctest.Wait()
			h.wantState("vm1", states.Broken)
			v, _ := h.e.Get("vm1")
			if v.Event != states.Backoff || v.Deadline.IsZero() {
				t.Fatalf("crash %d: head %s %q, want a scheduled restart", i+1, v.Event, v.Reason)
			}
			wait := time.Until(v.Deadline)
			backoffs = append(backoffs, wait)
			if i == 2 {
				h.restart() // the due time is a record: the next daemon keeps it
				synctest.Wait()
				h.wantState("vm1", states.Broken)
			}
			time.Sleep(wait)
			synctest.Wait()
			h.wantState("vm1", states.Running)
		}
		if fmt.Sprint(backoffs) != "[1s 2s 4s 8s 16s]" {
			t.Errorf("backoffs %v, want doubling from 1s", backoffs)
		}
		time.Sleep(10 * time.Second) // the sixth crash within 10 minutes
		synctest.Wait()
		v, _ := h.e.Get("vm1")
		if v.State != states.Broken || !strings.Contains(v.Reason, "restart limit reached") || !v.Deadline.IsZero() {
			t.Fatalf("after the limit: %s %s %q deadline %v", v.State, v.Event, v.Reason, v.Deadline)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		if n := h.drv.Count("vm1", "Spawn"); n != 1+DefaultRestartLimit {
			t.Errorf("%d spawns, want %d", n, 1+DefaultRestartLimit)
		}
		// A user reset during a backoff cancels the restart.
		h.ok(h.e.Reset(bg, "vm1"))
	})
}

// An update restarts a Running VM by a stop then a start. A daemon that
// crashes during that stop, or after it but before the start, leaves the
// intent in the log (update, then stop): the next daemon finishes the stop
// if need be and starts the VM with its new spec.
func TestUpdateRestartSurvivesDaemonCrash(t *testing.T) {
	for _, crashWhile := range []string{"Stopping", "Stopped"} {
		t.Run(crashWhile, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.create("vm1", drivertest.Behavior{IgnoreInterrupt: true})
				h.ok(h.e.Start(bg, "vm1"))
				synctest.Wait()
				if crashWhile == "Stopped" {
					// adopted (recovery), update, stop, stop_timeout and exited
					// commit; the start that should follow cannot be written.
					h.wrap = func(s Store) Store { return &failingStore{Store: s, n: 5} }
					h.restart()
					synctest.Wait()
				}
				h.ok(h.e.Update(bg, "vm1", drivers.Spec{Env: map[string]string{"V": "2"}}))
				synctest.Wait()
				h.wantState("vm1", states.Stopping)
				if crashWhile == "Stopped" {
					time.Sleep(testGraceful + testTerminate)
					synctest.Wait()
					h.wantState("vm1", states.Stopped)
					h.wrap = nil
				}
				h.restart()
				synctest.Wait()
				time.Sleep(testGraceful + testTerminate)
				synctest.Wait()
				h.wantState("vm1", states.Running)
				v, _ := h.e.Get("vm1")
				if v.Spec.Env["V"] != "2" {
					t.Errorf("restarted with spec %v", v.Spec)
				}
				if n := h.drv.Count("vm1", "Spawn"); n != 2 {
					t.Errorf("%d spawns, want the first and the restart", n)
				}
			})
		})
	}
}

// WaitFor ends its subscription when it returns, even when the caller's
// context lives on.
func TestWaitForDoesNotLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{RunningAfter: time.Second})
		h.ok(h.e.Start(bg, "vm1"))
		if _, err := h.e.WaitFor(bg, "vm1", func(h store.Head) bool { return h.State == states.Running }); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.e.pub.mu.Lock()
		n := len(h.e.pub.subs)
		h.e.pub.mu.Unlock()
		if n != 0 {
			t.Errorf("%d subscribers left after WaitFor returned", n)
		}
	})
}
