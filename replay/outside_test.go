package replay_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/replay/recheck"
)

// buildStoppedOutside is a history of limactl side by side: vm1 (restart
// on-failure) is stopped from outside while Running, stays Stopped long
// past any backoff, is started again by lifeline and stopped from outside
// while Starting.
func buildStoppedOutside(t *testing.T, path string) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		h := newRig(t, path)
		h.Drv.Script("vm1", drivertest.Behavior{RunningAfter: 2 * time.Second})
		h.OK(h.E.Create(bg, "vm1", drivers.Spec{Restart: engine.RestartOnFailure}))
		h.OK(h.E.Start(bg, "vm1"))
		until(t0, 5)
		h.Drv.StopOutside("vm1", 0, `the host agent logged "Received SIGINT, shutting down the host agent"`)
		until(t0, 120)
		h.OK(h.E.Start(bg, "vm1"))
		until(t0, 121) // Starting: running comes at 122
		h.Drv.StopOutside("vm1", 0, `the host agent was killed (SIGKILL) without "exiting", and ha.pid, ha.sock and qemu.pid were removed`)
		until(t0, 300)
		h.Close()
	})
}

// Replay check feeds a stopped_outside record to today's engine as the
// driver's evidence, and finds no divergence (no restart by the policy);
// the timeline lists both and explain tells the last.
func TestReplayStoppedOutside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outside.db")
	buildStoppedOutside(t, path)
	fixBootPIDs(t, path)
	db := openUTC(t, path)

	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Divergence != nil || res.Matched != res.Records {
		t.Fatalf("check: %v; matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
	if res.Records != 8 {
		t.Errorf("%d records, want 8 (create, start, spawned, running, stopped_outside, start, spawned, stopped_outside)\n%s", res.Records, b.String())
	}

	b.Reset()
	if err := db.Timeline(&b, replay.TimelineOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "stopped_outside"); n != 2 {
		t.Errorf("timeline shows %d stopped_outside records, want 2:\n%s", n, b.String())
	}

	b.Reset()
	if err := db.Explain(&b, "vm1"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// explain tells the last episode: from the first stop to the second.
	for _, want := range []string{"It was Stopped from 00:00:05", "someone other than lifeline stopped its agent, so it was Stopped and not restarted", "the VM was Starting", "qemu.pid were removed"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "crash") || strings.Contains(out, "restart policy") {
		t.Errorf("explain tells a crash or a restart:\n%s", out)
	}
}

// buildStartedOutside is a history of limactl start and delete side by
// side: vm1 (restart on-failure) is started from outside while Stopped
// and adopted, stopped from outside, and started from outside again (the
// daemon detaches from it); vm3 is adopted the same way and stopped by
// lifeline; vm2 is deleted from outside.
func buildStartedOutside(t *testing.T, path string) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		h := newRig(t, path)
		h.OK(h.E.Create(bg, "vm1", drivers.Spec{Restart: engine.RestartOnFailure}))
		h.OK(h.E.Create(bg, "vm2", drivers.Spec{}))
		h.OK(h.E.Create(bg, "vm3", drivers.Spec{}))
		until(t0, 10)
		h.Drv.StartOutside("vm3")
		h.Drv.StartOutside("vm1")
		until(t0, 20)
		h.Drv.StopOutside("vm1", 0, `the host agent logged "Received SIGINT, shutting down the host agent"`)
		until(t0, 30)
		h.Drv.StartOutside("vm1")
		h.Drv.DeleteOutside("vm2")
		until(t0, 40)
		h.OK(h.E.Stop(bg, "vm3", engine.StopOptions{}))
		until(t0, 60)
		h.Close()
	})
}

// Replay check feeds the adopted (started_outside) and delete
// (deleted_outside) records to today's engine as what the driver found,
// and finds no divergence; the timeline lists them and explain tells
// them.
func TestReplayStartedAndDeletedOutside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "started.db")
	buildStartedOutside(t, path)
	fixBootPIDs(t, path)
	db := openUTC(t, path)

	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Divergence != nil || res.Matched != res.Records {
		t.Fatalf("check: %v; matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
	b.Reset()
	if err := db.Timeline(&b, replay.TimelineOptions{}); err != nil {
		t.Fatal(err)
	}
	tl := b.String()
	if n := strings.Count(tl, "started from outside lifeline, adopted"); n != 3 {
		t.Errorf("timeline shows %d adoptions of a start from outside, want 3:\n%s", n, tl)
	}
	if !strings.Contains(tl, "deleted from outside lifeline") {
		t.Errorf("timeline does not show the delete from outside:\n%s", tl)
	}
	b.Reset()
	if err := db.Explain(&b, "vm1"); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "someone other than lifeline started it") {
		t.Errorf("explain of vm1 does not tell the start from outside:\n%s", out)
	}
	b.Reset()
	if err := db.Explain(&b, "vm2"); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "someone other than lifeline deleted its definition") {
		t.Errorf("explain of vm2 does not tell the delete from outside:\n%s", out)
	}
}
