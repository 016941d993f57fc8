package engine

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
)

// Issue 9, item 3: once Shutdown begins, every command is refused with
// ErrShuttingDown and the engine starts nothing on its own (a restart the
// policy scheduled is left to the next daemon, as its record says), so
// that what Shutdown stops is all there is; reads keep working.
func TestShutdownRefusesNewWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		// slow ignores SIGINT: the shutdown lasts until its graceful
		// deadline and the terminate grace.
		h.create("slow", drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true})
		h.ok(h.e.Start(bg, "slow"))
		h.create("g4", drivertest.Behavior{})
		h.create("br", drivertest.Behavior{SurviveKill: true})
		h.ok(h.e.Start(bg, "br"))
		// rp crashed and its restart is due 1s into the shutdown.
		h.drv.Script("rp", drivertest.Behavior{})
		h.ok(h.e.Create(bg, "rp", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "rp"))
		synctest.Wait()
		h.drv.Exit("rp", 1, "crashed")
		synctest.Wait()
		h.wantState("rp", states.Broken)
		h.ok(h.e.Stop(bg, "br", StopOptions{Force: true})) // survives: Broken by kill_failed
		synctest.Wait()
		h.wantState("br", states.Broken)
		h.drv.Kill("br")
		spawnsBefore := h.drv.Count("g4", "Spawn") + h.drv.Count("rp", "Spawn")

		done := make(chan error, 1)
		go func() { done <- h.e.Shutdown(bg) }()
		synctest.Wait()
		h.wantState("slow", states.Stopping)

		refused := map[string]func() error{
			"start g4":        func() error { _, err := h.e.Start(bg, "g4"); return err },
			"create g5":       func() error { _, err := h.e.Create(bg, "g5", drivers.Spec{}); return err },
			"stop slow":       func() error { _, err := h.e.Stop(bg, "slow", StopOptions{Force: true}); return err },
			"update g4":       func() error { _, err := h.e.Update(bg, "g4", drivers.Spec{Ready: "agent"}); return err },
			"reset br":        func() error { _, err := h.e.Reset(bg, "br"); return err },
			"delete g4":       func() error { _, err := h.e.Delete(bg, "g4"); return err },
			"start (no such)": func() error { _, err := h.e.Start(bg, "nosuch"); return err },
		}
		for what, cmd := range refused {
			if err := cmd(); !errors.Is(err, ErrShuttingDown) {
				t.Errorf("%s during the shutdown: %v, want ErrShuttingDown", what, err)
			}
		}
		if v, err := h.e.Get("g4"); err != nil || v.State != states.Stopped {
			t.Errorf("get g4 during the shutdown: %v, %v; want it Stopped and readable", v.State, err)
		}
		time.Sleep(DefaultRestartBackoff) // rp's restart falls due
		synctest.Wait()

		if err := <-done; err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		for vm, want := range map[string]states.State{"slow": states.Stopped, "g4": states.Stopped, "rp": states.Broken, "g5": states.Absent} {
			if got := h.state(vm); got != want && !(got == states.Absent && vm != "g5") {
				t.Errorf("after the shutdown %s is %s, want %s", vm, got, want)
			}
		}
		if n := h.drv.Count("g4", "Spawn") + h.drv.Count("rp", "Spawn"); n != spawnsBefore {
			t.Errorf("%d spawns during the shutdown, want none", n-spawnsBefore)
		}
		if _, err := h.st.Spec("g5"); err == nil {
			t.Error("create g5 during the shutdown was recorded")
		}
		for _, vm := range []string{"slow", "g4", "rp"} {
			if alive := h.drv.Alive(vm); len(alive) > 0 {
				t.Errorf("%s: pids %v alive after the shutdown", vm, alive)
			}
		}
	})
}

// A shutdown that leaves a VM live (its stop outlived ctx) says so, with
// ErrLeftLive naming the VM, so that the daemon does not record a clean
// close.
func TestShutdownReportsVMsLeftLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("stubborn", drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true})
		h.ok(h.e.Start(bg, "stubborn"))
		h.create("idle", drivertest.Behavior{})
		synctest.Wait()
		ctx, cancel := context.WithTimeout(bg, time.Second) // shorter than the graceful timeout
		defer cancel()
		err := h.e.Shutdown(ctx)
		if !errors.Is(err, ErrLeftLive) {
			t.Fatalf("shutdown that left stubborn Stopping: %v, want ErrLeftLive", err)
		}
		var n int
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if errors.Is(e, ErrLeftLive) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d VMs reported left live, want 1 (stubborn): %v", n, err)
		}
		h.drv.Kill("stubborn")
	})
}
