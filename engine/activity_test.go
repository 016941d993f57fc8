package engine_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// heldSpawn is the scripted driver whose Spawn waits until release is
// closed: an effect that is still running.
type heldSpawn struct {
	*drivertest.Driver
	release chan struct{}
}

func (d heldSpawn) Spawn(ctx context.Context, vm string, spec drivers.Spec) (drivers.Procs, error) {
	<-d.release
	return d.Driver.Spawn(ctx, vm, spec)
}

// TestActivityIdleOnlyAfterEffects: Options.Activity reports the engine idle
// only once its effects are done. A start's spawn held in the driver keeps
// it busy (the Idle channel stays open, InFlight counts it); once the spawn
// returns, Idle closes, and by then the spawned record is written. An exit
// the driver reports is an observation in flight until its record is
// written. Idle never closes early: every check runs at a point where
// synctest has let every goroutine that could run, run.
func TestActivityIdleOnlyAfterEffects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		drv := heldSpawn{Driver: drivertest.New(), release: make(chan struct{})}
		drv.Script("vm1", drivertest.Behavior{NeverRunning: true})
		var act engine.Activity
		drv.Track(&act)
		e, err := engine.Open(ctx, engine.Options{Store: st, Driver: drv, Activity: &act})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		var once sync.Once
		release := func() { once.Do(func() { close(drv.release) }) }
		defer release() // before Close, should the test fail with the spawn held
		select {
		case <-act.Idle():
		default:
			t.Fatalf("a fresh engine is not idle: %d in flight", act.InFlight())
		}
		if _, err := e.Create(ctx, "vm1", drivers.Spec{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Start(ctx, "vm1"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the spawn is under way, held in the driver
		idle := act.Idle()
		select {
		case <-idle:
			t.Fatal("idle while the start's spawn is held in the driver")
		default:
		}
		if n := act.InFlight(); n < 1 {
			t.Fatalf("InFlight = %d while the spawn is held", n)
		}
		if v, _ := e.Get("vm1"); v.Event != states.Start {
			t.Fatalf("vm1's last record is %s before the spawn returned", v.Event)
		}
		release()
		select {
		case <-idle:
		case <-time.After(time.Minute): // virtual: fires only if idle never closes
			t.Fatalf("not idle after the spawn returned: %d in flight", act.InFlight())
		}
		// Idle closed: the effect is done, its record written.
		if v, _ := e.Get("vm1"); v.Event != states.Spawned || v.Agent.IsZero() {
			t.Fatalf("idle, but vm1's last record is %s (agent %v), not the spawn's", v.Event, v.Agent)
		}
		if n := act.InFlight(); n != 0 {
			t.Fatalf("InFlight = %d when idle", n)
		}

		// An exit the driver reports: in flight until its record is written.
		if !drv.Report("vm1", drivers.Observation{Kind: drivers.ObsExited, Code: 1}) {
			t.Fatal("the driver has no agent of vm1 to report")
		}
		if err := act.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if v, _ := e.Get("vm1"); v.Event != states.StartFailed && v.Event != states.Crashed && v.Event != states.Exited {
			t.Fatalf("idle after the exit, but vm1's last record is %s", v.Event)
		}
	})
}

// TestActivityCountsDriverReports: a report the scripted driver sends from
// a goroutine of its own (a watch of an agent that is gone) is in flight
// from before the goroutine starts, so a wait that sees the engine idle
// has also seen the report handled.
func TestActivityCountsDriverReports(t *testing.T) {
	var act engine.Activity
	drv := drivertest.New()
	drv.Track(&act)
	handled := make(chan struct{})
	drv.Watch(context.Background(), "vm1", drivers.Spec{}, drivers.Procs{Agent: drivers.Proc{PID: 4242, StartTime: 1}}, func(o drivers.Observation) {
		if o.Kind != drivers.ObsExited {
			t.Errorf("report %s, want exited", o.Kind)
		}
		close(handled)
	})
	// No synctest and no sleep: Watch returned, so the report was counted
	// before its goroutine started.
	if err := act.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-handled:
	default:
		t.Fatal("idle before the watch's report was handled")
	}
}

// TestActivityEndWithoutBegin: a missing Begin is a bug, not a count below
// zero.
func TestActivityEndWithoutBegin(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("End without Begin did not panic")
		}
	}()
	var a engine.Activity
	a.End()
}
