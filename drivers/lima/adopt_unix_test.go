//go:build unix

package lima_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// limactlStart does what Lima 1.2.3's `limactl start NAME` does to a
// stopped instance (pkg/instance/start.go): it runs the host agent
// (`limactl hostagent --pidfile <dir>/ha.pid --socket <dir>/ha.sock NAME`,
// here agent-sim) in a session of its own, in the instance directory, with
// its output in ha.stdout.log and ha.stderr.log, and leaves it running. It
// returns the agent's pid; the test reaps it, and kills it at the end if
// it still runs.
func limactlStart(t *testing.T, f *fixture, vm string) int {
	t.Helper()
	dir := f.dir(vm)
	var files []*os.File
	for _, name := range []string{filenames.HostAgentStdoutLog, filenames.HostAgentStderrLog} {
		fh, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fh)
	}
	cmd := exec.Command(lifelineBin, "agent-sim", "--pidfile", filepath.Join(dir, filenames.HostAgentPID),
		"--socket", filepath.Join(dir, filenames.HostAgentSock), vm)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LIMA_HOME="+f.home)
	cmd.Stdout, cmd.Stderr = files[0], files[1]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("limactl start: run the host agent: %v", err)
	}
	for _, fh := range files {
		fh.Close()
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd.Process.Pid
}

// limactlDelete does what `limactl delete NAME` does to a stopped
// instance: its directory goes.
func limactlDelete(t *testing.T, f *fixture, vm string) {
	t.Helper()
	if err := os.RemoveAll(f.dir(vm)); err != nil {
		t.Fatal(err)
	}
}

// limactlList is the status `limactl list` shows for vm: Running when
// ha.pid and qemu.pid both name live processes (store.Inspect), Stopped
// otherwise.
func limactlList(f *fixture, vm string) states.State {
	for _, name := range []string{filenames.HostAgentPID, "qemu.pid"} {
		p, err := process.ReadPIDFile(filepath.Join(f.dir(vm), name))
		if err != nil {
			return states.Stopped
		}
		if _, err := process.Identify(p.PID); err != nil {
			return states.Stopped
		}
	}
	return states.Running
}

// An agent started by `limactl start` (agent-sim, run the way limactl
// runs the host agent) is found by FindOutside once its QEMU runs, with
// both identities, when it started after since; given a since after its
// start it is not; an instance directory that is gone is Deleted.
func TestFindOutsideFindsAnAgentLimactlStarted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	spec := f.spec("", nil)
	if err := f.d.Define(ctx, "vm1", spec); err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	if o, err := f.d.FindOutside(ctx, "vm1", spec, since); err != nil || o.Deleted || !o.Procs.IsZero() {
		t.Fatalf("before limactl start: %+v, %v; want nothing", o, err)
	}
	pid := limactlStart(t, f, "vm1")
	var found drivers.Outside
	eventually(t, "the agent limactl started is found with its QEMU", func() bool {
		o, err := f.d.FindOutside(ctx, "vm1", spec, since)
		if err != nil {
			t.Fatal(err)
		}
		found = o
		return !o.Procs.Agent.IsZero()
	})
	f.track("vm1", found.Procs)
	if found.Procs.Agent.PID != pid || found.Procs.VMProcess.IsZero() || found.Deleted {
		t.Fatalf("found %+v, want agent pid %d with its VM driver process", found, pid)
	}
	if !strings.Contains(found.Evidence, "ha.pid names host agent pid") {
		t.Errorf("evidence %q does not say how it was found", found.Evidence)
	}
	if o, err := f.d.FindOutside(ctx, "vm1", spec, time.Now().Add(time.Second)); err != nil || !o.Procs.IsZero() {
		t.Errorf("with a since after its start: %+v, %v; want nothing (an earlier incarnation's agent)", o, err)
	}
	limactlStop(t, f.dir("vm1"))
	eventually(t, "the agent and its QEMU exit", func() bool { return gone(found.Procs.Agent) && gone(found.Procs.VMProcess) })
	limactlDelete(t, f, "vm1")
	if o, err := f.d.FindOutside(ctx, "vm1", spec, since); err != nil || !o.Deleted || !strings.Contains(o.Evidence, "is gone") {
		t.Errorf("after limactl delete: %+v, %v; want Deleted", o, err)
	}
}

// The engine over this driver with agent-sim, driven by both CLIs:
// lifeline start, limactl stop, limactl start (adopted with both
// identities), lifeline stop, limactl start, limactl stop -f, lifeline
// start, lifeline stop, limactl delete. After each step `lifeline status`
// (Get), `lifeline list` (List) and `limactl list` agree.
//
// Not parallel: once in about ten -race runs of the whole package a
// simulated limactl start's QEMU stand-in ended about 2 s after it started,
// with nothing of this test's engine acting on it; run alone in its
// package, no other test's signal can reach it. The agent-sim log says how
// the stand-in ended ("driver child N ended: ...") should it happen again.
func TestEngineAndLimactlAgreeAtEachStep(t *testing.T) {
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
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{filenames.HostAgentStdoutLog, filenames.HostAgentStderrLog} {
				b, _ := os.ReadFile(filepath.Join(f.dir("vm1"), name))
				t.Logf("%s:\n%s", name, b)
			}
		}
	})
	// agree waits (bounded) until lifeline says want, then checks that
	// status, list and limactl list all say it.
	agree := func(step string, want states.State) store.Head {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, testBound)
		defer cancel()
		h, err := e.WaitFor(wctx, "vm1", func(h store.Head) bool { return h.State == want })
		if err != nil {
			v, _ := e.Get("vm1")
			t.Fatalf("after %s: lifeline says %s (%s %q), not %s within %v: %v", step, v.State, v.Event, v.Reason, want, testBound, err)
		}
		v, err := e.Get("vm1")
		if err != nil {
			t.Fatal(err)
		}
		var listed states.State
		for _, l := range e.List() {
			if l.VM == "vm1" {
				listed = l.State
			}
		}
		if lima := limactlList(f, "vm1"); v.State != want || listed != want || lima != want {
			t.Fatalf("after %s: status %s, list %s, limactl list %s; want all %s", step, v.State, listed, lima, want)
		}
		if want == states.Running {
			f.track("vm1", drivers.Procs{Agent: h.Agent, VMProcess: h.VMProcess})
		}
		return h
	}
	if _, err := e.Start(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	agree("lifeline start", states.Running)
	limactlStop(t, f.dir("vm1"))
	agree("limactl stop", states.Stopped)

	pid := limactlStart(t, f, "vm1")
	h := agree("limactl start", states.Running)
	if h.Event != states.Adopted || h.Cause.Kind != store.CauseStartedOutside || h.Agent.PID != pid || h.VMProcess.IsZero() {
		t.Fatalf("after limactl start: %s %s agent %d driver %d; want adopted, started_outside, agent %d and its QEMU", h.Event, h.Cause.Kind, h.Agent.PID, h.VMProcess.PID, pid)
	}
	if _, err := e.Stop(ctx, "vm1", engine.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	agree("lifeline stop of the adopted VM", states.Stopped)
	if !gone(h.Agent) || !gone(h.VMProcess) {
		t.Fatalf("lifeline stop left the adopted agent or its QEMU running")
	}

	limactlStart(t, f, "vm1")
	agree("limactl start again", states.Running)
	limactlStopForce(t, f.dir("vm1"))
	h = agree("limactl stop -f", states.Stopped)
	if h.Event != states.StoppedOutside {
		t.Fatalf("after limactl stop -f of the adopted VM: %s %q, want stopped_outside", h.Event, h.Reason)
	}
	if _, err := e.Start(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	agree("lifeline start again", states.Running)
	if _, err := e.Stop(ctx, "vm1", engine.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	agree("lifeline stop", states.Stopped)

	limactlDelete(t, f, "vm1")
	eventually(t, "lifeline records the limactl delete (vm1 no longer found)", func() bool {
		_, err := e.Get("vm1")
		return errors.Is(err, engine.ErrNotFound)
	})
	if len(e.List()) != 0 {
		t.Errorf("lifeline list after limactl delete: %+v", e.List())
	}
	var last store.Record
	if err := st.VMRecords("vm1", 1, func(r store.Record) error { last = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if last.Event != states.Delete || last.Cause.Kind != store.CauseDeletedOutside {
		t.Errorf("last record %s %s %q, want delete deleted_outside", last.Event, last.Cause.Kind, last.Reason)
	}
}
