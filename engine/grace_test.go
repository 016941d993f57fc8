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

// stopAndWatch starts vm (an agent that ignores SIGINT), stops it with o,
// and checks that it is still Stopping just before grace and ForceStopping
// (the stop_timeout recorded) at grace exactly; the stop's deadline is
// now+grace.
func stopAndWatch(t *testing.T, h *harness, vm string, o StopOptions, grace time.Duration) {
	t.Helper()
	h.ok(h.e.Start(bg, vm))
	synctest.Wait()
	h.wantState(vm, states.Running)
	stopAt := time.Now()
	h.ok(h.e.Stop(bg, vm, o))
	synctest.Wait()
	recs := h.records(vm)
	n := len(recs)
	if got, want := recs[n-1].Deadline, stopAt.Add(grace).UTC(); !got.Equal(want) {
		t.Errorf("stop deadline %v, want now+%s = %v", got, grace, want)
	}
	time.Sleep(grace - time.Nanosecond)
	synctest.Wait()
	h.wantState(vm, states.Stopping)
	time.Sleep(time.Nanosecond)
	synctest.Wait()
	recs = h.records(vm)
	var timeout bool
	for _, r := range recs[n:] {
		if r.Event == states.StopTimeout {
			timeout = true
			if want := stopAt.Add(grace).UTC(); !r.Time.Equal(want) {
				t.Errorf("stop_timeout at %v, want %v", r.Time, want)
			}
		}
	}
	if !timeout {
		t.Fatalf("no stop_timeout at the grace %s: %v", grace, recs)
	}
	h.wantState(vm, states.Stopped)
}

// A VM whose spec sets a graceful timeout of 2m is not forced at the
// engine's default (nor at 30s), and is at 2m.
func TestSpecGracefulTimeoutDelaysEscalation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("slow", drivertest.Behavior{IgnoreInterrupt: true})
		h.ok(h.e.Create(bg, "slow", drivers.Spec{GracefulTimeout: 2 * time.Minute}))
		if 30*time.Second <= testGraceful {
			t.Fatalf("the harness's default %s must be under 30s for this test", testGraceful)
		}
		stopAndWatch(t, h, "slow", StopOptions{}, 2*time.Minute)

		// A VM without the field keeps the engine's default.
		h.create("plain", drivertest.Behavior{IgnoreInterrupt: true})
		stopAndWatch(t, h, "plain", StopOptions{}, testGraceful)
	})
}

// stop --grace replaces the VM's graceful timeout for that stop only: the
// next stop has the spec's again.
func TestStopGraceIsForThisStopOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{GracefulTimeout: 2 * time.Minute}))
		stopAndWatch(t, h, "vm1", StopOptions{Grace: 5 * time.Second}, 5*time.Second)
		stopAndWatch(t, h, "vm1", StopOptions{}, 2*time.Minute)
	})
}

// An update that restarts a Running VM stops it with the new spec's
// graceful timeout.
func TestUpdateStopsWithTheNewGracefulTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		now := time.Now()
		h.ok(h.e.Update(bg, "vm1", drivers.Spec{GracefulTimeout: 90 * time.Second}))
		for _, r := range h.records("vm1") {
			if r.Event == states.Stop {
				if want := now.Add(90 * time.Second).UTC(); !r.Deadline.Equal(want) {
					t.Errorf("the update's stop deadline %v, want %v", r.Deadline, want)
				}
				return
			}
		}
		t.Fatal("the update recorded no stop")
	})
}

// A graceful timeout or a stop's grace out of range is refused before
// anything is recorded, with an error naming the VM and the field.
func TestInvalidGraceRefusedNothingRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		for _, d := range []time.Duration{-time.Second, 500 * time.Millisecond, 2 * time.Hour} {
			_, err := h.e.Create(bg, "bad", drivers.Spec{GracefulTimeout: d})
			var ise *InvalidSpecError
			if !errors.As(err, &ise) || ise.Field != "gracefulTimeout" || !strings.Contains(err.Error(), `vm "bad"`) || !strings.Contains(err.Error(), "want 1s to 1h") {
				t.Errorf("create with graceful timeout %s: %v, want an InvalidSpecError naming the VM and gracefulTimeout", d, err)
			}
		}
		if _, err := h.e.Get("bad"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a refused create left vm bad: %v", err)
		}

		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		before := len(h.records("vm1"))
		_, err := h.e.Update(bg, "vm1", drivers.Spec{GracefulTimeout: 2 * time.Hour})
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "field gracefulTimeout") {
			t.Errorf("update with 2h: %v", err)
		}
		for _, o := range []StopOptions{{Grace: 100 * time.Millisecond}, {Grace: 61 * time.Minute}, {Grace: -time.Second}, {Grace: 5 * time.Second, Force: true}} {
			_, err := h.e.Stop(bg, "vm1", o)
			if !errors.Is(err, ErrInvalidStop) || !strings.Contains(err.Error(), `vm "vm1": stop: `) || !strings.Contains(err.Error(), "nothing was recorded") {
				t.Errorf("stop %+v: %v, want ErrInvalidStop naming the VM", o, err)
			}
		}
		synctest.Wait()
		if after := len(h.records("vm1")); after != before {
			t.Errorf("refused commands recorded %d records", after-before)
		}
		h.wantState("vm1", states.Running)
	})
}
