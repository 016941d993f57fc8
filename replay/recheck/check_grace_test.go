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
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/replay/recheck"
)

// A history with grace periods per VM (the spec's gracefulTimeout) and per
// stop (stop --grace) checks clean: each stop is replayed with the grace
// its record shows, and the daemon's default is inferred only from VMs
// that have none of their own. slow (2m) has the most stops, so a single
// inference over every stop would pick 2m and misjudge plain's default.
func TestCheckGracePerVMAndPerStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grace.db")
	synctest.Test(t, func(t *testing.T) {
		h := newRig(t, path)
		stubborn := drivertest.Behavior{IgnoreInterrupt: true}
		h.Drv.Script("slow", stubborn)
		h.Drv.Script("quick", stubborn)
		h.Drv.Script("plain", stubborn)
		h.OK(h.E.Create(bg, "slow", drivers.Spec{GracefulTimeout: 2 * time.Minute}))
		h.OK(h.E.Create(bg, "quick", drivers.Spec{GracefulTimeout: 20 * time.Second}))
		h.OK(h.E.Create(bg, "plain", drivers.Spec{}))
		cycle := func(vm string, o engine.StopOptions) {
			h.OK(h.E.Start(bg, vm))
			synctest.Wait()
			h.OK(h.E.Stop(bg, vm, o))
			time.Sleep(3 * time.Minute) // past any grace: forced, Stopped
			synctest.Wait()
		}
		for range 3 {
			cycle("slow", engine.StopOptions{})
		}
		cycle("quick", engine.StopOptions{})
		// A grace within a second of the VM's: still this stop's own.
		cycle("quick", engine.StopOptions{Grace: 19 * time.Second})
		cycle("plain", engine.StopOptions{Grace: 5 * time.Second})
		cycle("plain", engine.StopOptions{})
		// An update's stop and the shutdown's take each VM's own grace.
		h.OK(h.E.Start(bg, "quick"))
		h.OK(h.E.Start(bg, "plain"))
		synctest.Wait()
		h.OK(h.E.Update(bg, "quick", drivers.Spec{GracefulTimeout: 20 * time.Second, Env: map[string]string{"A": "1"}}))
		time.Sleep(time.Minute)
		synctest.Wait()
		done := make(chan error, 1)
		go func() { done <- h.E.Shutdown(bg) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := h.St.Close(); err != nil {
			t.Fatal(err)
		}
	})
	db := openUTC(t, path)
	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Divergence != nil || res.Matched != res.Records {
		t.Fatalf("check: %v, matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
	if want := "graceful 7s"; !strings.Contains(strings.Join(res.Timeouts, "; "), want) {
		t.Errorf("timeouts %q, want the daemon's default inferred as %q", res.Timeouts, want)
	}
	// The stops with their own grace say so in their records.
	var e bytes.Buffer
	if err := db.Timeline(&e, replay.TimelineOptions{}); err != nil {
		t.Fatal(err)
	}
	var graces []string
	for _, l := range strings.Split(e.String(), "\n") {
		if strings.Contains(l, "with a grace of") {
			graces = append(graces, l)
		}
	}
	if len(graces) != 2 {
		t.Errorf("explain shows %d stops with their own grace, want 2 (19s, 5s): %q", len(graces), graces)
	}
}

// A stop recorded before an update changed the VM's graceful timeout is
// replayed with the grace of its time, not the last spec's: the file keeps
// only the last spec, and the older spec's grace is read off its stops'
// deadlines. stop (20s) → update (40s) → start → stop checks clean.
func TestCheckGraceOfAnOlderSpec(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regrace.db")
	synctest.Test(t, func(t *testing.T) {
		h := newRig(t, path)
		h.Drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		h.OK(h.E.Create(bg, "vm1", drivers.Spec{GracefulTimeout: 20 * time.Second}))
		cycle := func() {
			h.OK(h.E.Start(bg, "vm1"))
			synctest.Wait()
			h.OK(h.E.Stop(bg, "vm1", engine.StopOptions{}))
			time.Sleep(time.Minute) // past the grace: forced, Stopped
			synctest.Wait()
		}
		cycle()
		h.OK(h.E.Update(bg, "vm1", drivers.Spec{GracefulTimeout: 40 * time.Second}))
		cycle()
		h.Close()
	})
	db := openUTC(t, path)
	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Divergence != nil || res.Matched != res.Records {
		t.Fatalf("check: %v, matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
	if want := "graceful 20s of vm1's record #1 (read off its stops' deadlines)"; !strings.Contains(b.String(), want) {
		t.Errorf("the report does not say how the older spec's grace was found (%q):\n%s", want, b.String())
	}
}
