package engine

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// lastCause is the cause of vm's last record with event ev.
func (h *harness) lastCause(vm string, ev states.Event) store.Cause {
	h.t.Helper()
	recs := h.records(vm)
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Event == ev {
			if recs[i].Reason != recs[i].Cause.Render(ev) {
				h.t.Errorf("record #%d: reason %q is not its cause's sentence", recs[i].Seq, recs[i].Reason)
			}
			return recs[i].Cause
		}
	}
	h.t.Fatalf("vm %s has no %s record\n%s", vm, ev, h.logText(vm))
	return store.Cause{}
}

func wantCause(t *testing.T, what string, got, want store.Cause) {
	t.Helper()
	if got != want {
		t.Errorf("%s: cause %+v, want %+v", what, got, want)
	}
}

// TestEngineRecordsCausesAsData: the engine records why, as a kind and its
// facts, never as a sentence to parse: the driver's exit code, signal and
// "exiting" reach the record, the driver's error text is a field of its
// own, and deadlines and pids are the ones that passed and were meant.
func TestEngineRecordsCausesAsData(t *testing.T) {
	t.Run("crash", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.create("vm1", drivertest.Behavior{})
			h.ok(h.e.Start(bg, "vm1"))
			synctest.Wait()
			wantCause(t, "start", h.lastCause("vm1", states.Start), store.Cause{Kind: store.CauseRequested})
			pid := h.drv.Alive("vm1")[0]
			h.drv.Report("vm1", drivers.Observation{Kind: drivers.ObsExited, Code: 137, Signal: 9, Exiting: true, Reason: "signal: killed"})
			synctest.Wait()
			h.wantState("vm1", states.Broken)
			wantCause(t, "crashed", h.lastCause("vm1", states.Crashed),
				store.Cause{Kind: store.CauseAgentExit, Code: 137, Signal: 9, Exiting: true, PID: int64(pid), Detail: "signal: killed"})
		})
	})
	t.Run("spawn fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.create("vm1", drivertest.Behavior{SpawnErr: errors.New("exec: limactl: not found")})
			h.ok(h.e.Start(bg, "vm1"))
			synctest.Wait()
			wantCause(t, "start_failed", h.lastCause("vm1", states.StartFailed), store.Cause{Kind: store.CauseSpawnFailed, Err: "exec: limactl: not found"})
		})
	})
	t.Run("start deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.create("vm1", drivertest.Behavior{NeverRunning: true})
			start, err := h.e.Start(bg, "vm1")
			h.must(err)
			time.Sleep(testStart)
			synctest.Wait()
			wantCause(t, "start_failed", h.lastCause("vm1", states.StartFailed), store.Cause{Kind: store.CauseStartDeadline, Deadline: start.Deadline})
		})
	})
	t.Run("graceful and terminate deadlines", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.create("vm1", drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true})
			h.ok(h.e.Start(bg, "vm1"))
			synctest.Wait()
			pid := int64(h.drv.Alive("vm1")[0])
			stop, err := h.e.Stop(bg, "vm1", StopOptions{Reason: "maintenance"})
			h.must(err)
			wantCause(t, "stop", stop.Cause, store.Cause{Kind: store.CauseRequested, Detail: "maintenance"})
			time.Sleep(testGraceful + testTerminate)
			synctest.Wait()
			h.wantState("vm1", states.Stopped)
			wantCause(t, "stop_timeout", h.lastCause("vm1", states.StopTimeout), store.Cause{Kind: store.CauseGracefulDeadline, Deadline: stop.Deadline, PID: pid})
			wantCause(t, "exited", h.lastCause("vm1", states.Exited), store.Cause{Kind: store.CauseTerminateDeadline, PID: pid})
		})
	})
	t.Run("restart policy", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.drv.Script("vm1", drivertest.Behavior{CrashAfter: 10 * time.Second})
			h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
			h.ok(h.e.Start(bg, "vm1"))
			synctest.Wait()
			time.Sleep(10 * time.Second)
			synctest.Wait()
			want := store.Cause{Kind: store.CauseRestartPolicy, N: 1, Limit: DefaultRestartLimit, Window: DefaultRestartWindow, Backoff: DefaultRestartBackoff}
			wantCause(t, "backoff", h.lastCause("vm1", states.Backoff), want)
			time.Sleep(DefaultRestartBackoff)
			synctest.Wait()
			wantCause(t, "restart", h.lastCause("vm1", states.Restart), want)
		})
	})
	t.Run("recovery", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			for _, vm := range []string{"gone", "bad"} {
				h.create(vm, drivertest.Behavior{})
				h.ok(h.e.Start(bg, vm))
			}
			synctest.Wait()
			pid := int64(h.drv.Alive("gone")[0])
			badPID := int64(h.drv.Alive("bad")[0])
			h.crash()
			h.drv.Kill("gone")
			h.drv.Script("bad", drivertest.Behavior{LookupErr: errors.New("permission denied")})
			h.open()
			synctest.Wait()
			wantCause(t, "lost", h.lastCause("gone", states.Lost), store.Cause{Kind: store.CauseRecoveryGone, PID: pid})
			wantCause(t, "lost", h.lastCause("bad", states.Lost), store.Cause{Kind: store.CauseLookupFailed, PID: badPID, Err: "permission denied"})
		})
	})
	t.Run("shutdown", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.create("vm1", drivertest.Behavior{})
			h.ok(h.e.Start(bg, "vm1"))
			synctest.Wait()
			h.must(h.e.Shutdown(bg))
			synctest.Wait()
			wantCause(t, "stop", h.lastCause("vm1", states.Stop), store.Cause{Kind: store.CauseShutdown})
		})
	})
}
