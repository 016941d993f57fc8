package process

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// newTestDriver runs the helper in mode as the agent, in a run directory
// whose names hold '[' and ']'.
func newTestDriver(t *testing.T, mode string, extraEnv ...string) *Driver {
	d := NewDriver(filepath.Join(tempDir(t), "run[x]"), exe())
	d.Env = append(append(os.Environ(), envMode+"="+mode), extraEnv...)
	return d
}

// nextObs waits (bounded) for the next observation.
func nextObs(t *testing.T, obs <-chan drivers.Observation) drivers.Observation {
	t.Helper()
	select {
	case o := <-obs:
		return o
	case <-time.After(testBound):
		t.Fatal("no observation")
		return drivers.Observation{}
	}
}

func TestDriverLifecycle(t *testing.T) {
	ctx := context.Background()
	d := newTestDriver(t, "echo-env", envArg+"=GREETING")
	const vm = "vm[1]"
	spec := drivers.Spec{Env: map[string]string{"GREETING": "hello"}}
	since := time.Now()
	procs, err := d.Spawn(ctx, vm, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.KillTree(ctx, vm, procs) })
	dir, _ := d.RunDir(vm)

	rec, err := ReadPIDFile(filepath.Join(dir, PIDFile))
	if err != nil || rec.PID != procs.Agent.PID || rec.StartTime != procs.Agent.StartTime {
		t.Fatalf("pid file %+v, %v; spawned %+v", rec, err, procs.Agent)
	}
	obs := make(chan drivers.Observation, 4)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.Watch(wctx, vm, spec, procs, func(o drivers.Observation) { obs <- o })
	if o := nextObs(t, obs); o.Kind != drivers.ObsRunning || o.VM != vm || o.Procs != procs {
		t.Fatalf("first observation %+v, want running", o)
	}
	eventually(t, "the agent's output in "+StdoutFile, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, StdoutFile))
		return string(b) == "GREETING=hello\n"
	})

	if l, _, err := d.Lookup(ctx, vm, spec, procs, since); l != drivers.Ready || err != nil {
		t.Errorf("Lookup(recorded) = %v, %v; want ready", l, err)
	}
	l, found, err := d.Lookup(ctx, vm, spec, drivers.Procs{}, since)
	if l != drivers.Ready || err != nil || found.Agent.PID != procs.Agent.PID || found.Agent.StartTime != procs.Agent.StartTime {
		t.Errorf("Lookup(from the pid file) = %v, %+v, %v; want ready, %+v", l, found, err, procs)
	}
	if l, _, err := d.Lookup(ctx, vm, spec, drivers.Procs{}, time.Now().Add(time.Minute)); l != drivers.Gone || err != nil {
		t.Errorf("Lookup(since later) = %v, %v; want gone", l, err)
	}
	if err := d.Cleanup(ctx, vm); !errors.Is(err, ErrAlive) {
		t.Fatalf("Cleanup of a live agent: %v, want ErrAlive", err)
	}

	stop := d.Interrupt
	if isWine() {
		t.Log("under Wine: stopping with Terminate (CTRL_BREAK needs a console)")
		stop = d.Terminate
	}
	if err := stop(ctx, vm, procs); err != nil {
		t.Fatal(err)
	}
	if o := nextObs(t, obs); o.Kind != drivers.ObsExited || o.Reason == "" {
		t.Fatalf("observation %+v, want exited", o)
	}
	if err := d.KillTree(ctx, vm, procs); err != nil {
		t.Fatal(err)
	}
	if err := d.Cleanup(ctx, vm); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, PIDFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after Cleanup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, StdoutFile)); err != nil {
		t.Errorf("log after Cleanup: %v", err)
	}
	if l, _, err := d.Lookup(ctx, vm, spec, procs, since); l != drivers.Gone || err != nil {
		t.Errorf("Lookup after exit = %v, %v; want gone", l, err)
	}
	if err := d.Interrupt(ctx, vm, procs); !errors.Is(err, ErrGone) {
		t.Errorf("Interrupt after exit: %v, want ErrGone", err)
	}
}

// A restarted daemon (a second Driver on the same directory) finds the agent
// from its pid file, watches it as adopted and kills its whole tree.
func TestDriverAdoptsAfterRestart(t *testing.T) {
	ctx := context.Background()
	d := newTestDriver(t, "tree", envReady+"="+filepath.Join(tempDir(t), "ready"))
	const vm = "a"
	since := time.Now()
	procs, err := d.Spawn(ctx, vm, drivers.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.KillTree(ctx, vm, procs) })
	ready := strings.TrimPrefix(d.Env[len(d.Env)-1], envReady+"=")
	gc := identityOf(t, ready+".gc")

	d2 := &Driver{Dir: d.Dir, Command: d.Command, Env: d.Env}
	l, found, err := d2.Lookup(ctx, vm, drivers.Spec{}, drivers.Procs{}, since)
	if l != drivers.Ready || err != nil {
		t.Fatalf("Lookup = %v, %v", l, err)
	}
	obs := make(chan drivers.Observation, 4)
	d2.Watch(ctx, vm, drivers.Spec{}, found, func(o drivers.Observation) { obs <- o })
	if err := d2.Cleanup(ctx, vm); !errors.Is(err, ErrAlive) {
		t.Fatalf("Cleanup of a live adopted agent: %v, want ErrAlive", err)
	}
	if err := d2.KillTree(ctx, vm, found); err != nil {
		t.Fatal(err)
	}
	if o := nextObs(t, obs); o.Kind != drivers.ObsRunning || o.Procs != found {
		t.Fatalf("observation %+v, want running (an adopted agent that runs is up)", o)
	}
	if o := nextObs(t, obs); o.Kind != drivers.ObsExited || o.Code != -1 {
		t.Fatalf("observation %+v, want exited with code -1 (adopted)", o)
	}
	if !gone(t, gc) {
		t.Fatalf("grandchild %d survived", gc.PID)
	}
	if err := d2.Cleanup(ctx, vm); err != nil {
		t.Fatal(err)
	}
}

func TestDriverRefusesBadNames(t *testing.T) {
	d := NewDriver(tempDir(t), exe())
	for _, vm := range []string{"", ".", "..", "a/b", `a\b`} {
		if _, err := d.Spawn(context.Background(), vm, drivers.Spec{}); err == nil {
			t.Errorf("Spawn(%q): nil error", vm)
		}
	}
}
