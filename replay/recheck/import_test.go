package recheck_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	fx "github.com/lifeline-vm/lifeline/replay/internal/fixture"
	"github.com/lifeline-vm/lifeline/replay/recheck"
)

// buildImport is a history of lifeline beside limactl: vm1 is imported
// while it runs (create and adopted, cause imported) and released later;
// vm2 is imported stopped with autostart, and the next daemon starts it
// (start, cause autostart).
func buildImport(t *testing.T, path string) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		h := newRig(t, path)
		h.Drv.MakeOutside("vm1", drivers.Spec{Template: []byte("images: []\n")})
		h.Drv.StartOutside("vm1")
		h.Drv.MakeOutside("vm2", drivers.Spec{})
		fx.Until(t0, 1)
		h.OK(h.E.Import(bg, "vm1", drivers.Spec{}))
		h.OK(h.E.Import(bg, "vm2", drivers.Spec{Autostart: true}))
		fx.Until(t0, 10)
		h.OK(h.E.Release(bg, "vm1"))
		fx.Until(t0, 20)
		h.Close()
		h.Open()
		fx.Until(t0, 30)
		h.Close()
	})
}

// Replay check gives today's engine the import and the release as the
// commands they were, and the autostart as the engine's own, and finds no
// divergence; explain tells each.
func TestReplayImportReleaseAutostart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "import.db")
	buildImport(t, path)
	fx.FixBootPIDs(t, path)
	db := openUTC(t, path)

	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Divergence != nil || res.Matched != res.Records {
		t.Fatalf("check: %v; matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
	// vm1: create, adopted, release; vm2: create, start, spawned, running.
	if res.Records != 7 {
		t.Errorf("%d records, want 7\n%s", res.Records, b.String())
	}
	for vm, want := range map[string][]string{
		"vm1": {"lifeline imported it", "it was running when lifeline imported it", "it was released: lifeline forgot it"},
		"vm2": {"the daemon started it as it began (autostart)"},
	} {
		b.Reset()
		if err := db.Explain(&b, vm); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("explain %s does not say %q:\n%s", vm, w, b.String())
			}
		}
	}
}

// buildStartRace is a history of `limactl start` racing lifeline's start
// of a Stopped VM, both ways (reviewer finding (a)): vm1's spawn finds the
// other agent first and follows it; vm2's own agent gives way to it.
func buildStartRace(t *testing.T, path string) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		h := newRig(t, path)
		h.OK(h.E.Create(bg, "vm1", drivers.Spec{}))
		h.OK(h.E.Create(bg, "vm2", drivers.Spec{}))
		fx.Until(t0, 1)
		won := h.Drv.StartOutside("vm1")
		h.Drv.Script("vm1", drivertest.Behavior{SpawnErr: &drivers.StartedOutsideError{VM: "vm1", Procs: won, Evidence: "ha.pid names host agent pid 1"}})
		h.OK(h.E.Start(bg, "vm1"))
		h.Drv.Script("vm2", drivertest.Behavior{NeverRunning: true})
		h.OK(h.E.Start(bg, "vm2"))
		fx.Until(t0, 2)
		h.Drv.GiveWay("vm2")
		fx.Until(t0, 10)
		h.Close()
	})
}

// Replay check of both races finds no divergence: the replay's model
// spawns its own agent where the history followed someone else's, and
// takes the second spawned record as the identity it records; the check
// compares events, states and times, not which process won.
func TestReplayStartRacingLimactlStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "race.db")
	buildStartRace(t, path)
	fx.FixBootPIDs(t, path)
	db := openUTC(t, path)
	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Divergence != nil || res.Matched != res.Records {
		t.Fatalf("check: %v; matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
	// vm1: create start spawned running; vm2: create start spawned spawned running.
	if res.Records != 9 {
		t.Errorf("%d records, want 9\n%s", res.Records, b.String())
	}
}
