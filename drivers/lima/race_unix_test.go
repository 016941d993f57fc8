//go:build unix

package lima_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lima-vm/lima/pkg/store/filenames"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// waitRunning waits (bounded) until vm is Running and returns its head;
// it fails on any other settled state.
func waitRunning(t *testing.T, e *engine.Engine, vm string) store.Head {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testBound)
	defer cancel()
	h, err := e.WaitFor(ctx, vm, func(h store.Head) bool { return h.State == states.Running || h.State == states.Broken })
	if err != nil || h.State != states.Running {
		t.Fatalf("vm %s: %s (%s %q), %v; want Running", vm, h.State, h.Event, h.Reason, err)
	}
	return h
}

// Reviewer finding (a), first order: `limactl start` (agent-sim run the
// way limactl runs the host agent) wrote ha.pid just before lifeline's
// start of the same Stopped VM spawns. Spawn finds that agent instead of
// refusing, and the VM ends Running with it as its one tracked identity;
// before, the refused spawn left it Broken.
func TestLimactlStartFirstInARaceWithLifelineStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	e, _ := openEngine(t, f)
	if _, err := e.Create(ctx, "vm1", f.spec("", nil)); err != nil {
		t.Fatal(err)
	}
	pid := limactlStart(t, f, "vm1")
	eventually(t, "limactl's agent wrote ha.pid", func() bool {
		return limactlPIDWritten(f, "vm1")
	})
	if _, err := e.Start(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	h := waitRunning(t, e, "vm1")
	f.track("vm1", drivers.Procs{Agent: h.Agent, VMProcess: h.VMProcess})
	if h.Agent.PID != pid || h.VMProcess.IsZero() {
		t.Fatalf("tracked agent %d driver %d, want limactl's agent %d and its QEMU", h.Agent.PID, h.VMProcess.PID, pid)
	}
	if got := f.simDriverPIDs(); len(got) != 1 {
		t.Errorf("VM driver processes %v, want one (no second agent)", got)
	}
}

// Reviewer finding (a), the other order: lifeline's agent is spawned
// first (here it waits half a second before it claims ha.pid, as a real
// start's preparation would), limactl's claims ha.pid meanwhile, and
// lifeline's exits on it ("pidfile in use"). The exit names the winner,
// and the VM ends Running with it, not start_failed.
func TestLifelineAgentGivesWayToLimactlStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	d, err := lima.New(lima.Options{
		LimaHome:     f.home,
		HostAgentCmd: []string{"/bin/sh", "-c", `sleep 0.5; exec "$0" agent-sim "$@"`, lifelineBin},
		Logger:       zerolog.New(zerolog.NewTestWriter(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	e, st := openEngine(t, f)
	if _, err := e.Create(ctx, "vm1", f.spec("", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Start(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, testBound)
	own, err := e.WaitFor(wctx, "vm1", func(h store.Head) bool { return !h.Agent.IsZero() })
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	pid := limactlStart(t, f, "vm1")
	h := waitRunning(t, e, "vm1")
	f.track("vm1", drivers.Procs{Agent: h.Agent, VMProcess: h.VMProcess})
	if h.Agent.PID != pid || h.Agent == own.Agent {
		t.Fatalf("tracked agent %d, want limactl's %d (lifeline's was %d)", h.Agent.PID, pid, own.Agent.PID)
	}
	var gaveWay store.Record
	if err := st.VMRecords("vm1", 1, func(r store.Record) error {
		if r.Cause.Kind == store.CauseStartedOutside {
			gaveWay = r
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if gaveWay.Event != states.Spawned || !strings.Contains(gaveWay.Reason, "gave way") {
		t.Errorf("no spawned record saying lifeline's start gave way: %+v", gaveWay)
	}
}

// limactlPIDWritten tells whether vm's ha.pid names a live process.
func limactlPIDWritten(f *fixture, vm string) bool {
	p, err := process.ReadPIDFile(filepath.Join(f.dir(vm), filenames.HostAgentPID))
	if err != nil {
		return false
	}
	_, err = process.Identify(p.PID)
	return err == nil
}
