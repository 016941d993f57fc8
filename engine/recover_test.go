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
)

func TestDecideTable(t *testing.T) {
	want := map[states.State][3]action{ // gone, alive, ready
		states.Stopped:       {actNothing, actAdopt, actAdopt},
		states.Starting:      {actLost, actAwaitRunning, actAdopt},
		states.Running:       {actLost, actAdopt, actAdopt},
		states.Stopping:      {actFinishStop, actResumeStop, actResumeStop},
		states.ForceStopping: {actFinishStop, actResumeForce, actResumeForce},
		states.Broken:        {actNothing, actNothing, actNothing},
	}
	for s, acts := range want {
		for i, live := range []drivers.Liveness{drivers.Gone, drivers.Alive, drivers.Ready} {
			if got := decide(s, live); got != acts[i] {
				t.Errorf("decide(%s, %s) = %s, want %s", s, live, got, acts[i])
			}
		}
	}
}

func TestRecoverStoppedWithLiveAgentAdopts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.crash()
		procs := h.drv.Start("vm1", true) // started by hand while no daemon ran
		h.open()
		synctest.Wait()
		h.wantState("vm1", states.Running)
		v, _ := h.e.Get("vm1")
		if v.Event != states.Adopted || v.Agent.PID != procs.Agent.PID {
			t.Errorf("head %s pid %d, want adopted pid %d", v.Event, v.Agent.PID, procs.Agent.PID)
		}
	})
}

func TestRecoverStartingAwaitsRecordedDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{NeverRunning: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		deadline := h.records("vm1")[1].Deadline
		time.Sleep(4 * time.Second)
		synctest.Wait()
		h.restart()
		synctest.Wait()
		h.wantState("vm1", states.Starting)
		time.Sleep(time.Until(deadline) - time.Nanosecond)
		synctest.Wait()
		h.wantState("vm1", states.Starting)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		if h.drv.Count("vm1", "Spawn") != 1 {
			t.Errorf("recovery spawned again: %v", h.drv.CallsFor("vm1"))
		}
	})
}

func TestRecoverStartingReadyAdopts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{RunningAfter: 5 * time.Second})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.crash()
		time.Sleep(5 * time.Second) // the agent comes up while no daemon runs
		synctest.Wait()             // let the driver's timer, due at this instant, run first
		h.open()
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "adopted:Running")
	})
}

func TestRecoverGoneIsLost(t *testing.T) {
	for _, st := range []states.State{states.Starting, states.Running} {
		t.Run(st.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.create("vm1", drivertest.Behavior{NeverRunning: st == states.Starting})
				h.ok(h.e.Start(bg, "vm1"))
				synctest.Wait()
				h.wantState("vm1", st)
				h.crash()
				h.drv.Kill("vm1")
				h.open()
				synctest.Wait()
				h.wantState("vm1", states.Broken)
				v, _ := h.e.Get("vm1")
				if v.Event != states.Lost || !strings.Contains(v.Reason, "pid 1000 is gone") {
					t.Errorf("head %s %q", v.Event, v.Reason)
				}
			})
		})
	}
}

func TestRecoverRunningAdoptsAndKeepsWatching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.restart()
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "adopted:Running")
		h.drv.Exit("vm1", 2, "boom")
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		if h.drv.Count("vm1", "Spawn") != 1 {
			t.Error("adoption spawned a second agent")
		}
	})
}

// A pid that now belongs to an unrelated process is not the agent: it is
// never signalled, and the VM is treated as gone.
func TestRecoverRecycledPidNeverSignalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.crash()
		pid := h.drv.Recycle("vm1")
		h.open()
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		if !h.drv.AliveUnrelated(pid) {
			t.Fatalf("the unrelated process holding pid %d was killed", pid)
		}
		for _, c := range h.drv.Calls() {
			if c.PID == pid && (c.Op == "Interrupt" || c.Op == "Terminate" || c.Op == "KillTree") && c.Extra != "gone" {
				t.Errorf("signalled the unrelated process: %v", c)
			}
		}
	})
}

func TestRecoverStoppingResumesAtRecordedDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		deadline := h.records("vm1")[4].Deadline
		time.Sleep(2 * time.Second)
		synctest.Wait()
		h.restart()
		synctest.Wait()
		h.wantState("vm1", states.Stopping)
		if n := h.drv.Count("vm1", "Interrupt"); n != 2 {
			t.Errorf("%d interrupts, want the second one after recovery", n)
		}
		time.Sleep(time.Until(deadline))
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		if got := h.records("vm1")[5]; got.Event != states.StopTimeout || !got.Time.Equal(deadline) {
			t.Errorf("escalation %s at %v, want stop_timeout at the recorded deadline %v", got.Event, got.Time, deadline)
		}
	})
}

func TestRecoverStoppingGoneFinishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		h.crash()
		h.drv.Kill("vm1")
		h.open()
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		if h.drv.Count("vm1", "Cleanup") != 1 {
			t.Errorf("no cleanup before exited: %v", h.drv.CallsFor("vm1"))
		}
	})
}

func TestRecoverForceStoppingKillsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		time.Sleep(testGraceful)
		synctest.Wait()
		h.wantState("vm1", states.ForceStopping)
		h.restart() // inside the terminate grace, before the kill
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		if len(h.drv.Alive("vm1")) != 0 {
			t.Error("agent survived recovery of ForceStopping")
		}
	})
}

func TestRecoverBrokenStaysBroken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{SpawnErr: errors.New("no")})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		before := len(h.drv.Calls())
		h.restart()
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		if extra := h.drv.Calls()[before:]; len(extra) != 0 {
			t.Errorf("recovery of a Broken vm called the driver: %v", extra)
		}
	})
}

// One VM whose recovery fails is marked Broken; the others recover.
func TestRecoverOneBadVMDoesNotBlockOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		for _, vm := range []string{"a", "b", "c"} {
			h.create(vm, drivertest.Behavior{})
			h.ok(h.e.Start(bg, vm))
		}
		synctest.Wait()
		h.crash()
		h.drv.Script("b", drivertest.Behavior{LookupErr: errors.New("permission denied")})
		h.open()
		synctest.Wait()
		h.wantState("a", states.Running)
		h.wantState("c", states.Running)
		h.wantState("b", states.Broken)
		v, _ := h.e.Get("b")
		if !strings.Contains(v.Reason, "permission denied") {
			t.Errorf("reason %q", v.Reason)
		}
	})
}

// A crash between spawn and its record: the agent runs, the log has no
// identity. Recovery finds it through the driver and records it.
func TestRecoverSpawnNotRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{NeverRunning: true})
		h.e.Close()
		fs := &failingStore{Store: h.st, n: 1} // start commits, spawned fails
		e, err := Open(bg, Options{Store: fs, Driver: h.drv, StartTimeout: testStart})
		h.must(err)
		h.e = e
		h.ok(e.Start(bg, "vm1"))
		synctest.Wait()
		if len(h.drv.Alive("vm1")) != 1 {
			t.Fatal("no agent spawned")
		}
		h.restart()
		synctest.Wait()
		h.wantState("vm1", states.Starting)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting")
		if got := h.records("vm1")[2].Agent.PID; got != h.drv.Alive("vm1")[0] {
			t.Errorf("recorded pid %d, agent is %v", got, h.drv.Alive("vm1"))
		}
	})
}

// An agent that died while its VM driver lives on (Lima's orphaned QEMU):
// recovery records the driver's identity with lost, and the reap kills it.
func TestRecoverLostRecordsOrphanedDriver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{WithVMProcess: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.crash()
		orphan := h.drv.Orphan("vm1")
		h.open()
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		v, _ := h.e.Get("vm1")
		if v.VMProcess.PID != orphan.PID || !strings.Contains(v.Reason, "VM driver pid") {
			t.Errorf("lost record: driver %+v reason %q, want the orphan pid %d", v.VMProcess, v.Reason, orphan.PID)
		}
		if h.drv.DriverAlive(orphan) {
			t.Error("the orphaned driver process survived the reap")
		}
	})
}

// The spawned record is lost but the store works again: a stop finds the
// agent through the driver, records it (spawned in Stopping), and stops it.
// Nothing is left running untracked.
func TestStopFindsAgentWhoseSpawnWasNotRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{NeverRunning: true})
		h.e.Close()
		fs := &failingStore{Store: h.st, n: 1, once: true} // start commits, spawned fails, then fine
		e, err := Open(bg, Options{Store: fs, Driver: h.drv, StartTimeout: testStart, GracefulTimeout: testGraceful})
		h.must(err)
		h.e = e
		h.ok(e.Start(bg, "vm1"))
		synctest.Wait()
		if len(h.drv.Alive("vm1")) != 1 {
			t.Fatal("no agent spawned")
		}
		h.ok(e.Stop(bg, "vm1", StopOptions{}))
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "stop:Stopping", "spawned:Stopping", "exited:Stopped")
		if n := len(h.drv.Alive("vm1")); n != 0 {
			t.Errorf("%d agents left running", n)
		}
	})
}
