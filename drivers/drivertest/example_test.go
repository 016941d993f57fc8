package drivertest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
)

// An embedder scripts an agent that ignores SIGINT and checks what its
// supervisor did to it, in order.
func Example() {
	d := drivertest.New()
	d.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
	ctx := context.Background()

	procs, _ := d.Spawn(ctx, "vm1", drivers.Spec{})
	_ = d.Interrupt(ctx, "vm1", procs) // ignored
	_ = d.KillTree(ctx, "vm1", procs)  // the tree dies
	_ = d.KillTree(ctx, "vm1", procs)  // already gone: success, nothing touched
	live, _, _ := d.Lookup(ctx, "vm1", drivers.Spec{}, procs, time.Time{})

	for _, c := range d.CallsFor("vm1") {
		fmt.Println(c)
	}
	fmt.Println("lookup:", live, "alive agents:", len(d.Alive("vm1")))
	// Output:
	// Spawn vm1 pid=1000
	// Interrupt vm1 pid=1000 ignored
	// KillTree vm1 pid=1000
	// KillTree vm1 pid=1000 gone
	// Lookup vm1 pid=1000 gone
	// lookup: gone alive agents: 0
}

func TestWatchReportsRunningThenCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := drivertest.New()
		d.Script("vm1", drivertest.Behavior{RunningAfter: 2 * time.Second, CrashAfter: 3 * time.Second})
		procs, err := d.Spawn(t.Context(), "vm1", drivers.Spec{})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []string
		start := time.Now()
		d.Watch(t.Context(), "vm1", drivers.Spec{}, procs, func(o drivers.Observation) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%s@%v", o.Kind, time.Since(start)))
		})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(got) != "[running@2s exited@5s]" {
			t.Errorf("observations %v", got)
		}
	})
}

func TestIdentityMismatchIsGone(t *testing.T) {
	d := drivertest.New()
	ctx := context.Background()
	procs, _ := d.Spawn(ctx, "vm1", drivers.Spec{})
	pid := d.Recycle("vm1")
	if err := d.KillTree(ctx, "vm1", procs); err != nil {
		t.Fatal(err)
	}
	if !d.AliveUnrelated(pid) {
		t.Fatal("KillTree killed the process that reused the agent's pid")
	}
	if live, _, _ := d.Lookup(ctx, "vm1", drivers.Spec{}, procs, time.Time{}); live != drivers.Gone {
		t.Errorf("Lookup of a recycled pid = %s", live)
	}
}
