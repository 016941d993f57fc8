//go:build unix

package lima_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lima-vm/lima/pkg/store/filenames"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// limactlStop does what Lima 1.2.3's `limactl stop NAME` does to a running
// instance (pkg/instance/stop.go, StopGracefully): SIGINT to the pid in
// ha.pid.
func limactlStop(t *testing.T, dir string) {
	t.Helper()
	p, err := process.ReadPIDFile(filepath.Join(dir, filenames.HostAgentPID))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.PID, syscall.SIGINT); err != nil {
		t.Fatalf("limactl stop: SIGINT to the host agent %d: %v", p.PID, err)
	}
}

// limactlStopForce does what `limactl stop -f NAME` does (StopForcibly):
// SIGKILL to the pid in qemu.pid, then to the one in ha.pid, then every
// *.pid, *.sock and *.tmp of the instance removed.
func limactlStopForce(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"qemu.pid", filenames.HostAgentPID} {
		p, err := process.ReadPIDFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
			t.Fatalf("limactl stop -f: SIGKILL to %d (%s): %v", p.PID, name, err)
		}
	}
	removeTmpFiles(t, dir)
}

// removeTmpFiles removes dir's *.pid, *.sock and *.tmp, as `limactl stop -f`
// does.
func removeTmpFiles(t *testing.T, dir string) {
	t.Helper()
	for _, name := range staleFiles(t, dir) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// agent-sim on `limactl stop` behaves as Lima's host agent does: it logs
// "Received SIGINT, shutting down the host agent" (ha.stderr.log), stops its
// QEMU stand-in, says "exiting" and exits 0. The watch reports that exit with
// the signal line as its evidence of a stop from outside.
func TestLimactlStopIsReportedWithItsEvidence(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", nil)
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	run := r.wait(t, drivers.ObsRunning)

	limactlStop(t, f.dir("vm1"))
	ex := r.wait(t, drivers.ObsExited)
	if ex.Code != 0 || !strings.Contains(ex.Reason, `after "exiting"`) {
		t.Errorf("exit %d %q: want 0 after \"exiting\", as Lima's host agent", ex.Code, ex.Reason)
	}
	if !strings.Contains(ex.Outside, `"Received SIGINT, shutting down the host agent"`) || !strings.Contains(ex.Outside, filenames.HostAgentStderrLog) {
		t.Errorf("evidence %q: want the host agent's own log line of the SIGINT", ex.Outside)
	}
	if !gone(run.Procs.VMProcess) {
		t.Errorf("the QEMU stand-in %d runs after a stop reported from outside", run.Procs.VMProcess.PID)
	}
}

// `limactl stop -f`: both processes SIGKILLed, the files removed. The watch
// reports the exit with that evidence.
func TestLimactlStopForceIsReportedWithItsEvidence(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", nil)
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	run := r.wait(t, drivers.ObsRunning)

	limactlStopForce(t, f.dir("vm1"))
	ex := r.wait(t, drivers.ObsExited)
	if !strings.Contains(ex.Outside, "killed by SIGKILL") || !strings.Contains(ex.Outside, "removed by someone else") {
		t.Errorf("evidence %q: want the SIGKILL and the removed files", ex.Outside)
	}
	if !gone(run.Procs.VMProcess) {
		t.Errorf("the QEMU stand-in %d runs", run.Procs.VMProcess.PID)
	}
}

// What looks like a stop from outside but is not: each exit is reported
// with no evidence, so the engine records the failure it always did.
func TestFailuresAreNoStopFromOutside(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		end  func(t *testing.T, dir string, p drivers.Procs)
	}{
		// The agent alone is killed (OOM, kill -9): its files stay, its
		// QEMU lives on.
		{"kill", func(t *testing.T, dir string, p drivers.Procs) {
			killAgentGroup(t, p.Agent)
		}},
		// Both are killed, but nobody removed the files; `limactl list`
		// afterwards removes the dead pid files, never ha.sock.
		{"list after kill", func(t *testing.T, dir string, p drivers.Procs) {
			if err := syscall.Kill(p.VMProcess.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killAgentGroup(t, p.Agent)
			eventually(t, "QEMU stand-in gone", func() bool { return gone(p.VMProcess) })
			for _, name := range []string{filenames.HostAgentPID, "qemu.pid"} {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		// QEMU ends on its own (a guest that powers off, a QEMU that
		// dies): the agent says "exiting" and exits, with no signal line.
		{"qemu end", func(t *testing.T, dir string, p drivers.Procs) {
			if err := syscall.Kill(p.VMProcess.PID, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			spec := f.spec("", nil)
			procs := f.spawn("vm1", spec)
			r := f.watch("vm1", spec, procs)
			run := r.wait(t, drivers.ObsRunning)
			c.end(t, f.dir("vm1"), run.Procs)
			ex := r.wait(t, drivers.ObsExited)
			if ex.Outside != "" {
				t.Errorf("exit %d %q reported as stopped from outside: %q", ex.Code, ex.Reason, ex.Outside)
			}
		})
	}
}

// The engine over this driver with agent-sim: a VM with restart on-failure
// stopped with `limactl stop` is Stopped (stopped_outside, the evidence in
// the reason), and stays Stopped past the restart backoff; started again and
// stopped with `limactl stop -f`, the same.
func TestEngineLimactlStopIsNoCrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(ctx, engine.Options{Store: st, Driver: f.d, Logger: zerolog.New(zerolog.NewTestWriter(t)), StartTimeout: testBound})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	spec := f.spec("", nil)
	spec.Restart = engine.RestartOnFailure
	if _, err := e.Create(ctx, "vm1", spec); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func(store.Head) bool) store.Head {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, testBound)
		defer cancel()
		h, err := e.WaitFor(wctx, "vm1", cond)
		if err != nil {
			v, _ := e.Get("vm1")
			t.Fatalf("vm1 not %s within %v: %v (now %s: %s %q)", what, testBound, err, v.State, v.Event, v.Reason)
		}
		return h
	}
	for _, c := range []struct {
		how      string
		stop     func(t *testing.T, dir string)
		evidence string
	}{
		{"limactl stop", limactlStop, `"Received SIGINT, shutting down the host agent"`},
		{"limactl stop -f", limactlStopForce, "removed by someone else"},
	} {
		if _, err := e.Start(ctx, "vm1"); err != nil {
			t.Fatal(err)
		}
		h := waitFor("Running", func(h store.Head) bool { return h.State == states.Running })
		f.track("vm1", drivers.Procs{Agent: h.Agent, VMProcess: h.VMProcess})
		c.stop(t, f.dir("vm1"))
		h = waitFor("Stopped", func(h store.Head) bool { return h.State != states.Running })
		if h.State != states.Stopped || h.Event != states.StoppedOutside || !strings.Contains(h.Reason, c.evidence) || !strings.Contains(h.Reason, "the VM was Running") {
			t.Fatalf("%s: %s %s %q; want Stopped by stopped_outside naming %s", c.how, h.State, h.Event, h.Reason, c.evidence)
		}
		// No restart: nothing is recorded for three times the first
		// backoff.
		wctx, cancel := context.WithTimeout(ctx, 3*engine.DefaultRestartBackoff)
		later, err := e.WaitFor(wctx, "vm1", func(n store.Head) bool { return n.Seq > h.Seq })
		cancel()
		if err == nil {
			t.Fatalf("%s: the VM moved on after the stop from outside: %s %s %q", c.how, later.State, later.Event, later.Reason)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
	}
	// The processes of both runs are gone: a stop records nothing that runs.
	f.mu.Lock()
	p := *f.procs["vm1"]
	f.mu.Unlock()
	if !gone(p.Agent) || !gone(p.VMProcess) {
		t.Errorf("a process of the last run survived: %+v", p)
	}
}
