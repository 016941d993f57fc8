package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

func TestMetricsFollowTheLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		drv := drivertest.New()
		drv.Script("stubborn", drivertest.Behavior{IgnoreInterrupt: true})
		e, err := engine.Open(ctx, engine.Options{Store: st, Driver: drv, GracefulTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		m := newMetrics(e)
		sub, err := e.Subscribe(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for r := range sub.C {
				m.observe(r)
			}
		}()
		for _, vm := range []string{"good", "stubborn"} {
			if _, err := e.Create(ctx, vm, drivers.Spec{}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Start(ctx, vm); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		for _, vm := range []string{"good", "stubborn"} {
			if _, err := e.Stop(ctx, vm, engine.StopOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if got := testutil.ToFloat64(m.forced); got != 1 {
			t.Errorf("forced stops %v, want 1", got)
		}
		if got := testutil.ToFloat64(m.transitions.WithLabelValues("Stopping", "Stopped")); got != 1 {
			t.Errorf("Stopping→Stopped %v, want 1 (the good one)", got)
		}
		mfs, err := m.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "lifeline_stop_duration_seconds" {
				h := mf.GetMetric()[0].GetHistogram()
				// Two stops: the good one at once, the stubborn one at its
				// 5 s deadline.
				if h.GetSampleCount() != 2 || h.GetSampleSum() < 5 || h.GetSampleSum() > 5.5 {
					t.Errorf("stop durations: %d samples, sum %vs", h.GetSampleCount(), h.GetSampleSum())
				}
			}
		}
		expected := `
# HELP lifeline_vms VMs by state.
# TYPE lifeline_vms gauge
lifeline_vms{state="Broken"} 0
lifeline_vms{state="ForceStopping"} 0
lifeline_vms{state="Running"} 0
lifeline_vms{state="Starting"} 0
lifeline_vms{state="Stopped"} 2
lifeline_vms{state="Stopping"} 0
`
		if err := testutil.GatherAndCompare(m.reg, strings.NewReader(expected), "lifeline_vms"); err != nil {
			t.Error(err)
		}
	})
}
