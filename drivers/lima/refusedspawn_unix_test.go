//go:build unix

package lima_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// A start that finds another starter's agent running the instance (a
// user's `limactl start` just before; race.go) kills nothing of it: it
// spawns no second agent and follows that one (spawned, started_outside),
// and the VM ends Running with it, not Broken (reviewer finding (a); it
// was start_failed before). Earlier still, the reap after start_failed
// called KillTree with no agent recorded, which found the other starter's
// agent through ha.pid and killed it with its QEMU.
func TestRefusedSpawnKillsNotTheOtherStartersAgent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other, err := lima.New(lima.Options{
		LimaHome:     f.home,
		HostAgentCmd: []string{lifelineBin, "agent-sim"},
		Logger:       zerolog.New(zerolog.NewTestWriter(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec := f.spec("", nil)
	// lifeline knows the VM (Stopped); the other starter starts it first.
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.Open(ctx, engine.Options{
		Store: st, Driver: f.d, Logger: zerolog.New(zerolog.NewTestWriter(t)),
		GracefulTimeout: time.Second, TerminateGrace: 500 * time.Millisecond, StartTimeout: testBound,
		// The race is lifeline's start against the other starter's, not
		// the poll that would adopt the other agent first.
		OutsidePoll: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(ctx, "shared", spec); err != nil {
		t.Fatal(err)
	}
	if err := other.Define(ctx, "shared", spec); err != nil {
		t.Fatal(err)
	}
	theirs, err := other.Spawn(ctx, "shared", spec)
	if err != nil {
		t.Fatal(err)
	}
	f.track("shared", theirs)
	eventually(t, "the other starter's agent writes ha.pid", func() bool {
		_, err := os.Stat(filepath.Join(f.dir("shared"), "ha.pid"))
		return err == nil
	})

	if _, err := e.Start(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, testBound)
	defer cancel()
	h, err := e.WaitFor(wctx, "shared", func(h store.Head) bool { return h.State == states.Broken || h.State == states.Running })
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil { // waits for the reap, if any
		t.Fatal(err)
	}
	if h.State != states.Running || h.Agent.PID != theirs.Agent.PID {
		t.Fatalf("%s %s agent %d (%q), want Running with the other starter's agent %d", h.State, h.Event, h.Agent.PID, h.Reason, theirs.Agent.PID)
	}
	if gone(theirs.Agent) {
		t.Fatalf("the other starter's agent pid %d was killed (%q)", theirs.Agent.PID, h.Reason)
	}
}
