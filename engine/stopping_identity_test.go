package engine

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
)

// Storm finding B: a stop recorded while Starting, and the VM driver
// process (Lima's QEMU) appears only afterwards, while the agent takes its
// time to stop. The driver runs; the log must name it at once (a spawned
// self-loop in Stopping, keeping the stop's deadline), and status show it,
// not only when the stop ends. The same for a force stop's ForceStopping.
func TestDriverAppearingWhileStoppingIsRecorded(t *testing.T) {
	cases := []struct {
		name        string
		driverAfter time.Duration // after the spawn
		want        states.State
	}{
		{"stopping", time.Second, states.Stopping},
		// The graceful deadline passed (stop_timeout), SIGTERM ignored:
		// ForceStopping for the terminate grace.
		{"force stopping", testGraceful + time.Second, states.ForceStopping},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				// The agent ignores the interrupt and SIGTERM, so a stop
				// lasts to its deadlines; it never reports running.
				h.create("vm1", drivertest.Behavior{VMProcessAfter: tc.driverAfter, RunningAfter: time.Hour, IgnoreInterrupt: true, IgnoreTerminate: true})
				h.ok(h.e.Start(bg, "vm1"))
				synctest.Wait()
				h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
				time.Sleep(tc.driverAfter - time.Nanosecond)
				synctest.Wait()
				h.wantState("vm1", tc.want)
				before := h.records("vm1")
				time.Sleep(time.Nanosecond)
				synctest.Wait()
				v, err := h.e.Get("vm1")
				h.must(err)
				if v.State != tc.want || v.VMProcess.IsZero() {
					t.Fatalf("once the driver appeared: %s, driver %+v; want %s naming the driver\n%s", v.State, v.VMProcess, tc.want, h.logText("vm1"))
				}
				recs := h.records("vm1")
				last, prev := recs[len(recs)-1], before[len(before)-1]
				if last.Event != states.Spawned || last.From != tc.want || last.To != tc.want || last.VMProcess != v.VMProcess {
					t.Fatalf("last record %s %s→%s driver %+v; want spawned %s→%s naming driver %+v\n%s", last.Event, last.From, last.To, last.VMProcess, tc.want, tc.want, v.VMProcess, h.logText("vm1"))
				}
				if !last.Deadline.Equal(prev.Deadline) {
					t.Errorf("spawned in %s carries deadline %v, want the state's %v", tc.want, last.Deadline, prev.Deadline)
				}
			})
		})
	}
}
