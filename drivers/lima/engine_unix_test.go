//go:build unix

package lima_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// The engine over this driver, with agent-sim and a real store: create,
// start, Running (with both identities recorded), a daemon restart that
// adopts the agent, a graceful stop, a forced one, and the orphan after a
// daemon restart (lost, QEMU killed by identity, reset, start again).
func TestEngineOverLimaDriver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	db := filepath.Join(t.TempDir(), "lifeline.db")
	ctx := context.Background()

	var st *store.Store
	var e *engine.Engine
	open := func() {
		t.Helper()
		var err error
		if st, err = store.Open(db, store.Options{}); err != nil {
			t.Fatal(err)
		}
		e, err = engine.Open(ctx, engine.Options{
			Store:           st,
			Driver:          f.d,
			Logger:          zerolog.New(zerolog.NewTestWriter(t)),
			GracefulTimeout: 3 * time.Second,
			TerminateGrace:  500 * time.Millisecond,
			StartTimeout:    testBound,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	closeAll := func() {
		t.Helper()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitState := func(vm string, want states.State) store.Head {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, testBound)
		defer cancel()
		h, err := e.WaitFor(wctx, vm, func(h store.Head) bool { return h.State == want })
		if err != nil {
			v, _ := e.Get(vm)
			t.Fatalf("vm %s: not %s within %v: %v (now %s: %s %q)", vm, want, testBound, err, v.State, v.Event, v.Reason)
		}
		return h
	}
	procsOf := func(h store.Head) drivers.Procs {
		return drivers.Procs{
			Agent:     drivers.Proc{PID: int(h.Agent.PID), StartTime: h.Agent.StartTime, Group: int(h.Agent.Group), BootID: h.Agent.BootID},
			VMProcess: drivers.Proc{PID: int(h.VMProcess.PID), StartTime: h.VMProcess.StartTime, Group: int(h.VMProcess.Group), BootID: h.VMProcess.BootID},
		}
	}
	must := func(_ store.Record, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	startRunning := func(vm string) drivers.Procs {
		t.Helper()
		must(e.Start(ctx, vm))
		h := waitState(vm, states.Running)
		p := procsOf(h)
		f.track(vm, p)
		if p.Agent.IsZero() || p.VMProcess.IsZero() {
			t.Fatalf("vm %s Running with identities %+v; want the agent and the driver recorded", vm, p)
		}
		return p
	}

	open()
	must(e.Create(ctx, "plain", f.spec("", env{"LIFELINE_SIM_START_DELAY": "50ms"})))
	must(e.Create(ctx, "stubborn", f.spec("", env{"LIFELINE_SIM_IGNORE_SIGINT": "1", "LIFELINE_SIM_IGNORE_SIGTERM": "1"})))
	must(e.Create(ctx, "orphan", f.spec("", env{"LIFELINE_SIM_ORPHAN_DRIVER": "1"})))
	plain := startRunning("plain")
	stubborn := startRunning("stubborn")
	orphan := startRunning("orphan")

	// The daemon goes away (detach) and the orphan's agent is killed while
	// nobody watches; its QEMU stand-in lives on.
	closeAll()
	killAgentGroup(t, orphan.Agent)
	open()
	defer closeAll()

	if h := waitState("plain", states.Running); procsOf(h) != plain {
		t.Errorf("adopted plain with %+v, want %+v", procsOf(h), plain)
	}
	h := waitState("orphan", states.Broken)
	if h.Event != states.Lost {
		t.Errorf("orphan: event %s, want lost", h.Event)
	}
	eventually(t, "orphaned driver killed by identity", func() bool { return gone(orphan.VMProcess) })
	must(e.Reset(ctx, "orphan"))
	startRunning("orphan")

	// Graceful stop.
	must(e.Stop(ctx, "plain", engine.StopOptions{}))
	h = waitState("plain", states.Stopped)
	if h.Event != states.Exited {
		t.Errorf("plain stopped by %s (%q)", h.Event, h.Reason)
	}
	if !gone(plain.Agent) || !gone(plain.VMProcess) {
		t.Error("plain: a process survived the stop")
	}
	if s := staleFiles(t, f.dir("plain")); len(s) > 0 {
		t.Errorf("plain: stale files after stop: %v", s)
	}

	// An agent that ignores SIGINT and SIGTERM: ForceStopping at the
	// graceful deadline, then the tree kill.
	must(e.Stop(ctx, "stubborn", engine.StopOptions{}))
	waitState("stubborn", states.ForceStopping)
	h = waitState("stubborn", states.Stopped)
	if !strings.Contains(h.Reason, "SIGTERM") {
		t.Errorf("stubborn stopped with reason %q", h.Reason)
	}
	for _, p := range []drivers.Proc{stubborn.Agent, stubborn.VMProcess} {
		if !gone(p) || groupAlive(p.Group) {
			t.Errorf("stubborn: pid %d (group %d) survived", p.PID, p.Group)
		}
	}

	must(e.Stop(ctx, "orphan", engine.StopOptions{}))
	waitState("orphan", states.Stopped)
	must(e.Delete(ctx, "orphan"))
}

// The record of a crash and of a start failure quotes the host agent's own
// log (status, events and replay explain show the record's reason).
func TestEngineRecordQuotesAgentLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.Open(ctx, engine.Options{Store: st, Driver: f.d, Logger: zerolog.New(zerolog.NewTestWriter(t)), StartTimeout: testBound})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, tc := range []struct {
		vm    string
		knobs env
		event states.Event
		want  string
	}{
		{"crash", env{"LIFELINE_SIM_CRASH_AFTER": "200ms"}, states.Crashed, "agent exited unasked: exit status 1, without \"exiting\"; host agent log: simulated crash"},
		{"nostart", env{"LIFELINE_SIM_EXIT_ZERO_LEAVING_DRIVER": "1"}, states.StartFailed, "agent exited while starting: exit status 0, after \"exiting\"; host agent log: Driver stopped due to error"},
	} {
		if _, err := e.Create(ctx, tc.vm, f.spec("", tc.knobs)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Start(ctx, tc.vm); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, testBound)
		h, err := e.WaitFor(wctx, tc.vm, func(h store.Head) bool { return h.State == states.Broken })
		cancel()
		if err != nil {
			t.Fatalf("vm %s: not Broken within %v: %v", tc.vm, testBound, err)
		}
		if h.Event != tc.event || !strings.Contains(h.Reason, tc.want) {
			t.Errorf("vm %s: %s %q, want %s containing %q", tc.vm, h.Event, h.Reason, tc.event, tc.want)
		}
	}
}
