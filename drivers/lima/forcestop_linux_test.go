//go:build linux

package lima_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Issue 9, item 1: a force-stop that lands right after a spawn must not
// leave the VM driver process behind. The agent (agent-sim, with a start
// delay) forks its driver child in a group of its own a few milliseconds
// after it starts; a force-stop 0-40 ms after the start races that fork.
// Every cycle must end Stopped with no driver child of the VM alive.
//
// LIFELINE_FORCESTOP_SEED replays a run; LIFELINE_FORCESTOP_CYCLES sets how
// many cycles each VM runs (default 60).
func TestForceStopRightAfterSpawnLeaksNoDriver(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LIFELINE_FORCESTOP_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("LIFELINE_FORCESTOP_SEED=%q: %v", s, err)
		}
	}
	cycles := 60
	if s := os.Getenv("LIFELINE_FORCESTOP_CYCLES"); s != "" {
		var err error
		if cycles, err = strconv.Atoi(s); err != nil || cycles <= 0 {
			t.Fatalf("LIFELINE_FORCESTOP_CYCLES=%q: want a positive number", s)
		}
	}
	t.Logf("seed %d (replay with LIFELINE_FORCESTOP_SEED=%d), %d cycles per vm", seed, seed, cycles)

	f := newFixture(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.Options{
		Store:           st,
		Driver:          f.d,
		Logger:          zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		GracefulTimeout: testBound,
		StartTimeout:    testBound,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})

	const vms = 4
	var wg sync.WaitGroup
	errs := make(chan error, vms)
	for i := range vms {
		name := fmt.Sprintf("fs%d", i)
		if _, err := e.Create(ctx, name, f.spec("", env{"LIFELINE_SIM_START_DELAY": "1s"})); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- forceStopCycles(ctx, e, f, name, cycles, rng)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.Logf("replay with LIFELINE_FORCESTOP_SEED=%d", seed)
	}
}

// forceStopCycles runs start, a pause of 0-40 ms, stop --force, and checks
// after each Stopped that no driver child of vm is alive.
func forceStopCycles(ctx context.Context, e *engine.Engine, f *fixture, vm string, cycles int, rng *rand.Rand) error {
	for c := range cycles {
		rec, err := e.Start(ctx, vm)
		if err != nil {
			return fmt.Errorf("vm %s cycle %d: start: %w", vm, c, err)
		}
		pause := time.Duration(rng.IntN(41)) * time.Millisecond
		time.Sleep(pause) // the race under test is with the real agent's fork: a real pause
		if _, err := e.Stop(ctx, vm, engine.StopOptions{Force: true}); err != nil {
			return fmt.Errorf("vm %s cycle %d: stop --force after %v: %w", vm, c, pause, err)
		}
		wctx, cancel := context.WithTimeout(ctx, testBound)
		h, err := e.WaitFor(wctx, vm, func(h store.Head) bool { return h.Seq > rec.Seq && !h.State.InFlight() })
		cancel()
		if err != nil {
			return fmt.Errorf("vm %s cycle %d: not settled within %v: %w", vm, c, testBound, err)
		}
		if h.State != states.Stopped {
			return fmt.Errorf("vm %s cycle %d: force stop after %v ended %s by %s (%q)", vm, c, pause, h.State, h.Event, h.Reason)
		}
		if pids := driverChildren(vm); len(pids) > 0 {
			f.mu.Lock()
			f.leftovers = append(f.leftovers, pids...)
			f.mu.Unlock()
			return fmt.Errorf("vm %s cycle %d: force stop %v after the start recorded exited, but driver child pid %v of the vm still runs", vm, c, pause, pids)
		}
	}
	return nil
}

// driverChildren returns the pids of the live agent-sim driver children of
// vm started by this test binary's lifeline (their command line is
// "<lifelineBin> agent-sim --driver-child <vm>").
func driverChildren(vm string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		panic(err)
	}
	want := [][]byte{[]byte(lifelineBin), []byte("agent-sim"), []byte("--driver-child"), []byte(vm)}
	var out []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
		if len(args) < len(want) || !bytes.Equal(args[0], want[0]) || !bytes.Equal(args[len(args)-1], []byte(vm)) ||
			!bytes.Contains(b, []byte("\x00--driver-child\x00")) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + ent.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && (st[i+2] == 'Z' || st[i+2] == 'X') {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}
