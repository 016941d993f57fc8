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

// An instance someone else made and left stopped is imported Stopped: one
// create record with the cause imported, the definition never written
// again (no Define), nothing spawned.
func TestImportStoppedInstanceIsRecordedStoppedAndNotRedefined(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.MakeOutside("vm1", drivers.Spec{Template: []byte("images: []\n")})
		rec, err := h.e.Import(bg, "vm1", drivers.Spec{Restart: RestartOnFailure})
		h.must(err)
		if rec.Event != states.Create || rec.Cause.Kind != store.CauseImported {
			t.Fatalf("import answered %s (%s), want create (imported)", rec.Event, rec.Cause.Kind)
		}
		synctest.Wait()
		h.wantEvents("vm1", "create:Stopped")
		for _, op := range []string{"Define", "Spawn", "Remove", "Cleanup"} {
			if n := h.drv.Count("vm1", op); n != 0 {
				t.Errorf("%d %s calls: import must change nothing of the instance", n, op)
			}
		}
		v, err := h.e.Get("vm1")
		h.must(err)
		if string(v.Spec.Template) != "images: []\n" || v.Spec.Restart != RestartOnFailure {
			t.Errorf("spec %+v: want the instance's template with the given restart policy", v.Spec)
		}
		// A start later is lifeline's own.
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)
	})
}

// An instance that runs is imported Running: create, then adopted with
// both identities and the cause imported; nothing is spawned, and the VM
// is watched as any Running VM (a crash is recorded).
func TestImportRunningInstanceIsAdoptedWithBothIdentities(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.MakeOutside("vm1", drivers.Spec{})
		procs := h.drv.StartOutside("vm1")
		rec, err := h.e.Import(bg, "vm1", drivers.Spec{})
		h.must(err)
		synctest.Wait()
		h.wantEvents("vm1", "create:Stopped", "adopted:Running")
		if rec.Event != states.Adopted || rec.Cause.Kind != store.CauseImported {
			t.Fatalf("import answered %s (%s), want adopted (imported)", rec.Event, rec.Cause.Kind)
		}
		if rec.Agent != procs.Agent || rec.VMProcess != procs.VMProcess || rec.VMProcess.IsZero() {
			t.Errorf("adopted names agent %+v driver %+v, want %+v and %+v", rec.Agent, rec.VMProcess, procs.Agent, procs.VMProcess)
		}
		if !strings.Contains(rec.Reason, "imported, running: agent pid") {
			t.Errorf("reason %q", rec.Reason)
		}
		if n := h.drv.Count("vm1", "Spawn") + h.drv.Count("vm1", "Define"); n != 0 {
			t.Errorf("%d spawn or define calls for an instance that runs", n)
		}
		h.drv.Exit("vm1", 1, "exit status 1")
		synctest.Wait()
		h.wantState("vm1", states.Broken)
	})
}

// Import refuses, with nothing recorded: a name lifeline knows, an
// instance the driver has no definition of, a spec lifeline could not run.
func TestImportRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "known", drivers.Spec{}))
		h.drv.MakeOutside("known", drivers.Spec{})
		if _, err := h.e.Import(bg, "known", drivers.Spec{}); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "release") {
			t.Errorf("import of a known name: %v, want ErrExists saying what to do", err)
		}
		if _, err := h.e.Import(bg, "nosuch", drivers.Spec{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("import of no instance: %v, want ErrNotFound", err)
		}
		h.drv.MakeOutside("bad", drivers.Spec{Ready: "whenever"})
		_, err := h.e.Import(bg, "bad", drivers.Spec{})
		var ise *InvalidSpecError
		if !errors.As(err, &ise) || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), "nothing was recorded") {
			t.Errorf("import of an invalid spec: %v, want an InvalidSpecError naming the vm", err)
		}
		if recs := h.records("bad"); len(recs) != 0 || len(h.records("nosuch")) != 0 {
			t.Errorf("refused imports recorded %v", h.events("bad"))
		}
		h.wantEvents("known", "create:Stopped")
	})
}

// Instances lists what the driver has that lifeline does not run.
func TestInstancesListsOnlyUnknownOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.MakeOutside("a", drivers.Spec{})
		h.drv.MakeOutside("b", drivers.Spec{})
		h.ok(h.e.Import(bg, "a", drivers.Spec{}))
		names, err := h.e.Instances(bg)
		h.must(err)
		if len(names) != 1 || names[0] != "b" {
			t.Errorf("instances %v, want [b]", names)
		}
	})
}

// Release forgets a Running VM without a signal or a removal: its agent
// runs on, the name is free, and neither the look for a start from
// outside nor the recovery of the next daemon adopts it again.
func TestReleaseLeavesARunningVMRunningAndUnwatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.MakeOutside("vm1", drivers.Spec{})
		procs := h.drv.StartOutside("vm1")
		h.ok(h.e.Import(bg, "vm1", drivers.Spec{}))
		rec, err := h.e.Release(bg, "vm1")
		h.must(err)
		if rec.Event != states.Release || rec.From != states.Running || rec.To != states.Absent || rec.Cause.Kind != store.CauseReleased ||
			rec.Cause.PID != int64(procs.Agent.PID) || rec.Cause.VMProcessPID != int64(procs.VMProcess.PID) {
			t.Fatalf("release recorded %s %s→%s %+v", rec.Event, rec.From, rec.To, rec.Cause)
		}
		time.Sleep(5 * DefaultOutsidePoll)
		synctest.Wait()
		for _, op := range []string{"Interrupt", "Terminate", "KillTree", "Cleanup", "Remove"} {
			if n := h.drv.Count("vm1", op); n != 0 {
				t.Errorf("%d %s calls: release must leave the VM as it is", n, op)
			}
		}
		if alive := h.drv.Alive("vm1"); len(alive) != 1 || alive[0] != procs.Agent.PID {
			t.Errorf("alive after release: %v, want the agent %d", alive, procs.Agent.PID)
		}
		if _, err := h.e.Get("vm1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("released VM: %v, want not found", err)
		}
		h.restart()
		time.Sleep(5 * DefaultOutsidePoll)
		synctest.Wait()
		if _, err := h.e.Get("vm1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("released VM after a daemon restart: %v, want not found", err)
		}
		h.wantEvents("vm1", "create:Stopped", "adopted:Running", "release:Absent")
		// It can be imported again.
		h.ok(h.e.Import(bg, "vm1", drivers.Spec{}))
		h.wantState("vm1", states.Running)
	})
}

// A VM on its way (Starting) is not released: the refusal names the state.
func TestReleaseRefusesAVMInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{NeverRunning: true})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Starting)
		_, err := h.e.Release(bg, "vm1")
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.State != states.Starting {
			t.Fatalf("release of a Starting VM: %v, want rejected in Starting", err)
		}
	})
}

// A Stopped VM whose spec says autostart is started whenever the engine
// opens (the daemon starts), after recovery, with the cause autostart;
// one without it stays Stopped. A clean shutdown stops it, and the next
// open starts it again.
func TestAutostartStartsStoppedVMsAtOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "auto", drivers.Spec{Autostart: true}))
		h.ok(h.e.Create(bg, "manual", drivers.Spec{}))
		synctest.Wait()
		h.wantState("auto", states.Stopped) // a create does not start it

		h.restart()
		synctest.Wait()
		h.wantState("auto", states.Running)
		h.wantState("manual", states.Stopped)
		recs := h.records("auto")
		var start store.Record
		for _, r := range recs {
			if r.Event == states.Start {
				start = r
			}
		}
		if start.Cause.Kind != store.CauseAutostart || start.Reason != "autostart: the daemon started" {
			t.Errorf("start %+v, want the cause autostart", start.Cause)
		}

		h.must(h.e.Shutdown(bg))
		h.e = nil
		h.must(h.st.Close())
		h.st = nil
		h.open()
		synctest.Wait()
		h.wantState("auto", states.Running)
		h.wantEvents("auto", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running",
			"stop:Stopping", "exited:Stopped", "start:Starting", "spawned:Starting", "running:Running")
	})
}

// A VM with autostart (and no restart policy) that ran when the host
// went down is lost because of the reboot; the next daemon resets it and
// starts it, both records with the cause autostart. One without
// autostart stays Broken.
func TestAutostartBringsBackAVMLostToAHostReboot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.e.Close()
		h.st.Close()
		h.openOnHost("boot-a")
		h.ok(h.e.Create(bg, "auto", drivers.Spec{Autostart: true}))
		h.ok(h.e.Create(bg, "plain", drivers.Spec{}))
		h.ok(h.e.Start(bg, "auto"))
		h.ok(h.e.Start(bg, "plain"))
		synctest.Wait()
		h.wantState("auto", states.Running)
		h.drv.Kill("auto") // the host went down: every process with it
		h.drv.Kill("plain")
		h.crash()
		h.openOnHost("boot-b")
		synctest.Wait()
		h.wantState("auto", states.Running)
		h.wantState("plain", states.Broken)
		h.wantEvents("auto", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running",
			"lost:Broken", "reset:Stopped", "start:Starting", "spawned:Starting", "running:Running")
		recs := h.records("auto")
		if recs[4].Cause.Kind != store.CauseHostRebooted {
			t.Errorf("lost: cause %s, want host_rebooted", recs[4].Cause.Kind)
		}
		for _, r := range recs[5:7] {
			if r.Cause.Kind != store.CauseAutostart {
				t.Errorf("%s: cause %s, want autostart", r.Event, r.Cause.Kind)
			}
		}
	})
}

// A create of a name the driver finds a definition of, made outside
// lifeline (limactl create, or an instance released), is refused with
// nothing recorded and nothing defined: its definition would overwrite the
// instance's own. The answer points to import, which takes it over as it
// is. A VM of another driver (command) is no Lima instance: its create of
// the same name is not refused for it.
func TestCreateRefusesAnInstanceMadeOutside(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.MakeOutside("vm1", drivers.Spec{Template: []byte("images: []\n")})
		_, err := h.e.Create(bg, "vm1", drivers.Spec{})
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "lifeline import vm1") {
			t.Fatalf("create of an instance made outside: %v; want ErrExists pointing to import", err)
		}
		if recs := h.records("vm1"); len(recs) != 0 {
			t.Fatalf("%d records after a refused create, want none", len(recs))
		}
		if n := h.drv.Count("vm1", "Define"); n != 0 {
			t.Errorf("%d Define calls: a refused create must not touch the instance", n)
		}
		h.ok(h.e.Import(bg, "vm1", drivers.Spec{}))
		h.wantEvents("vm1", "create:Stopped")

		h.drv.MakeOutside("cmd1", drivers.Spec{})
		h.ok(h.e.Create(bg, "cmd1", drivers.Spec{Driver: "command", Command: []string{"/bin/true"}}))
	})
}
