package engine

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
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

// graceDriver is the scripted driver with a default graceful timeout per
// driver, as the daemon's mux over Lima (3m30s with limactl's host agent)
// and the command driver (none: the engine's) answers.
type graceDriver struct{ *drivertest.Driver }

const limaGrace = 3*time.Minute + 30*time.Second

func (graceDriver) DefaultGracefulTimeout(spec drivers.Spec) time.Duration {
	if spec.DriverName() == "lima" {
		return limaGrace
	}
	return 0
}

// openGrace opens an engine over graceDriver with the daemon's graceful
// timeout given (the flag) or not (0).
func openGrace(t *testing.T, given time.Duration) (*Engine, *drivertest.Driver) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	drv := drivertest.New()
	e, err := Open(bg, Options{Store: st, Driver: graceDriver{drv}, GracefulTimeout: given})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		st.Close()
	})
	return e, drv
}

// TestGracefulTimeoutPrecedence: a VM's graceful timeout is its spec's,
// else the daemon's when given (for every driver), else its driver's
// default, else the engine's DefaultGracefulTimeout. A command VM does not
// inherit Lima's 3m30s.
func TestGracefulTimeoutPrecedence(t *testing.T) {
	lima, limaNamed, command := drivers.Spec{}, drivers.Spec{Driver: "lima"}, drivers.Spec{Driver: "command"}
	own := drivers.Spec{Driver: "command", GracefulTimeout: 5 * time.Second}
	for _, tc := range []struct {
		given time.Duration
		spec  drivers.Spec
		want  time.Duration
	}{
		{0, lima, limaGrace},
		{0, limaNamed, limaGrace},
		{0, command, DefaultGracefulTimeout},
		{0, own, 5 * time.Second},
		{7 * time.Second, lima, 7 * time.Second},
		{7 * time.Second, command, 7 * time.Second},
		{7 * time.Second, own, 5 * time.Second},
	} {
		e, _ := openGrace(t, tc.given)
		if got := e.GracefulTimeout(tc.spec); got != tc.want {
			t.Errorf("daemon's %s, spec %+v: %s, want %s", tc.given, tc.spec, got, tc.want)
		}
	}
}

// TestCommandVMStopsAtItsOwnDefault: the stop records of a Lima and a
// command VM of one engine carry each driver's default grace.
func TestCommandVMStopsAtItsOwnDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := openGrace(t, 0)
		for vm, want := range map[string]time.Duration{"l": limaGrace, "c": DefaultGracefulTimeout} {
			spec := drivers.Spec{}
			if vm == "c" {
				spec.Driver = "command"
			}
			if _, err := e.Create(bg, vm, spec); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Start(bg, vm); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			rec, err := e.Stop(bg, vm, StopOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Deadline.Sub(rec.Time); got != want {
				t.Errorf("vm %s (driver %q): stop deadline after %s, want %s", vm, spec.Driver, got, want)
			}
		}
	})
}

// TestUpdateStopWaitsTheLongerGrace: the stop an update of a Running VM
// performs waits the longer of the old and the new graceful timeout. The
// new spec applies from the next start, so lowering it does not cut short
// the shutdown of a guest started under the old one; raising it gives
// that guest the longer one.
func TestUpdateStopWaitsTheLongerGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{GracefulTimeout: 2 * time.Minute}))
		for _, tc := range []struct {
			to, want time.Duration
		}{
			{10 * time.Second, 2 * time.Minute}, // lowered: the old one
			{time.Minute, time.Minute},          // raised: the new one
		} {
			h.ok(h.e.Start(bg, "vm1"))
			synctest.Wait()
			h.wantState("vm1", states.Running)
			up, err := h.e.Update(bg, "vm1", drivers.Spec{GracefulTimeout: tc.to})
			h.must(err)
			// The record after the update's own: the engine's goroutines
			// run on (the scripted agent exits at once, the restart
			// follows), so it need not be the last one by now.
			var stop store.Record
			for _, r := range h.records("vm1") {
				if r.VMSeq == up.VMSeq+1 {
					stop = r
				}
			}
			if stop.Event != states.Stop || stop.Cause.Kind != store.CauseUpdate {
				t.Fatalf("record after the update: %s (%s), want the update's stop", stop.Event, stop.Cause.Kind)
			}
			if got := stop.Deadline.Sub(stop.Time); got != tc.want {
				t.Errorf("update to %s: its stop waits %s, want %s", tc.to, got, tc.want)
			}
			synctest.Wait()
			h.wantState("vm1", states.Running) // started again with the new spec
			h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
			synctest.Wait()
		}
	})
}

// TestUpdateSpellingTheDefaultDriver: a spec that names no driver names
// the default one, so an update that spells "lima" for a VM created
// without a driver (or the other way round) is no driver change; another
// driver is still refused.
func TestUpdateSpellingTheDefaultDriver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Update(bg, "vm1", drivers.Spec{Driver: "lima"}))
		h.ok(h.e.Update(bg, "vm1", drivers.Spec{Driver: ""}))
		h.ok(h.e.Update(bg, "vm1", drivers.Spec{Driver: "lima"}))
		var bad *InvalidSpecError
		if _, err := h.e.Update(bg, "vm1", drivers.Spec{Driver: "command"}); !errors.As(err, &bad) || bad.Field != "driver" {
			t.Errorf("update to another driver: %v, want refused on field driver", err)
		}
	})
}
