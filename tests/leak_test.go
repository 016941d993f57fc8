//go:build linux

package tests

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// leakCycles is how many start/stop cycles the leak check runs.
const leakCycles = 1000

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestNoLeaksOverManyCycles runs an engine with the Lima driver and real
// agent-sim host agents through 1,000 start/stop cycles, then checks that
// goroutines (goleak) and open file descriptors are back to where they
// were.
func TestNoLeaksOverManyCycles(t *testing.T) {
	dir := shortTemp(t)
	ctx := context.Background()
	st, err := store.Open(filepath.Join(dir, "db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	drv, err := lima.New(lima.Options{LimaHome: filepath.Join(dir, "lima"), HostAgentCmd: []string{lifelineBin, "agent-sim"}})
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "blank.raw")
	if err := lima.CreateBlankDisk(disk, 0); err != nil {
		t.Fatal(err)
	}
	tmpl, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: disk})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(ctx, engine.Options{Store: st, Driver: drv, GracefulTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(ctx, "vm1", drivers.Spec{Template: tmpl, Ready: lima.ReadyAgent}); err != nil {
		t.Fatal(err)
	}
	wait := func(want states.State) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := e.WaitFor(wctx, "vm1", func(h store.Head) bool { return h.State == want || h.State == states.Broken }); err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if v, _ := e.Get("vm1"); v.State != want {
			t.Fatalf("vm1 is %s (%s), want %s", v.State, v.Reason, want)
		}
	}
	cycle := func() {
		if _, err := e.Start(ctx, "vm1"); err != nil {
			t.Fatal(err)
		}
		wait(states.Running)
		if _, err := e.Stop(ctx, "vm1", engine.StopOptions{}); err != nil {
			t.Fatal(err)
		}
		wait(states.Stopped)
	}
	// Warm up: the first cycle creates what lives for the process (the
	// store's and runtime's goroutines and files).
	cycle()
	fds := openFDs(t)
	ignore := goleak.IgnoreCurrent()
	start := time.Now()
	for i := 0; i < leakCycles; i++ {
		cycle()
	}
	t.Logf("%d start/stop cycles in %v", leakCycles, time.Since(start).Round(time.Millisecond))
	// Everything a cycle starts ends with it; allow the last agent's
	// watchers a bounded moment to return.
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > fds && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := openFDs(t); got > fds {
		t.Errorf("open file descriptors: %d after %d cycles, %d before", got, leakCycles, fds)
	}
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines leaked over %d cycles: %v", leakCycles, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
