package replay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// openOn opens the rig as a daemon on a host whose boot id is
// bi.HostBootID: the boot record carries bi, and the engine gets the
// previous boot's host boot id and this one's, as the daemon does.
func openOn(h *rig, bi store.BootInfo) {
	h.T.Helper()
	st, err := store.Open(h.Path, store.Options{NoSync: true, BootInfo: bi})
	if err != nil {
		h.T.Fatalf("open store: %v", err)
	}
	prev, err := st.PrevBoot()
	if err != nil {
		h.T.Fatal(err)
	}
	h.St = st
	e, err := engine.Open(bg, engine.Options{Store: st, Driver: h.Drv, GracefulTimeout: testGraceful, StartTimeout: testStart,
		TerminateGrace: testTerminate, RecoveryParallelism: 1, PrevHostBootID: prev.HostBootID, HostBootID: bi.HostBootID})
	if err != nil {
		h.T.Fatalf("open engine: %v", err)
	}
	h.E = e
}

var (
	hostA  = store.BootInfo{Version: "v0.9.0 (rev 3e3fd85a1b2c)", HostBootID: "boot-a", HostName: "h1"}
	hostA2 = store.BootInfo{Version: "v0.9.1 (rev d8767b1f00d2)", HostBootID: "boot-a", HostName: "h1"}
	hostB  = store.BootInfo{Version: "v0.9.1 (rev d8767b1f00d2)", HostBootID: "boot-b", HostName: "h1"}
)

// buildDetachReboot is a history of three boots: boot 1 starts vm1
// (restart on-failure) and vm2 (no policy) and detaches (--detach-on-exit:
// closed with the detach mark, both VMs running); boot 2, a newer build on
// the same host boot, adopts both; the host goes down under it (boot 2
// never closes, both agents die), and boot 3, on the host's next boot,
// records both lost because the host rebooted, and the policy restarts
// vm1.
func buildDetachReboot(t *testing.T, path string) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		h := &rig{T: t, Path: path, Drv: drivertest.New()}
		openOn(h, hostA)
		h.OK(h.E.Create(bg, "vm1", drivers.Spec{Restart: engine.RestartOnFailure}))
		h.OK(h.E.Create(bg, "vm2", drivers.Spec{}))
		h.OK(h.E.Start(bg, "vm1"))
		h.OK(h.E.Start(bg, "vm2"))
		until(t0, 10)
		h.E.Close()
		if err := h.St.CloseDetached(); err != nil {
			t.Fatal(err)
		}
		until(t0, 20)
		openOn(h, hostA2)
		until(t0, 30)
		h.Crash()
		h.Drv.Kill("vm1")
		h.Drv.Kill("vm2")
		until(t0, 100)
		openOn(h, hostB)
		until(t0, 120)
		h.Close()
	})
	fixBootPIDs(t, path)
}

// TestCheckDetachedBootThenAdoption is issue 10 part 1's detach mark in
// replay check: a history in which the daemon detached (its boot closed
// with the mark, VMs left running), the next boot adopted them, the host
// rebooted under that one and the boot after it recorded the VMs lost and
// restarted the one with a policy, replays without divergence.
func TestCheckDetachedBootThenAdoption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "detach.db")
	buildDetachReboot(t, path)
	db := openUTC(t, path)

	// The history is what this test claims.
	got := map[string][]string{}
	n := 0
	st, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Records(1, func(r store.Record) error {
		n++
		got[r.VM] = append(got[r.VM], fmt.Sprintf("%s@%d", r.Event, r.Boot))
		if r.Event == states.Lost && !strings.Contains(r.Reason, "host rebooted (boot id boot-a, now boot-b)") {
			t.Errorf("%s lost %q: want the host reboot as its reason", r.VM, r.Reason)
		}
		return nil
	})
	boots, berr := st.Boots()
	st.Close()
	if err != nil || berr != nil {
		t.Fatal(err, berr)
	}
	want := map[string]string{
		"vm1": "create@1 start@1 spawned@1 running@1 adopted@2 lost@3 backoff@3 restart@3 spawned@3 running@3",
		"vm2": "create@1 start@1 spawned@1 running@1 adopted@2 lost@3",
	}
	for vm, w := range want {
		if s := strings.Join(got[vm], " "); s != w {
			t.Fatalf("%s's history: %s, want %s", vm, s, w)
		}
	}
	if len(boots) != 3 || !boots[0].Detached || boots[0].Closed.IsZero() || !boots[1].Closed.IsZero() || boots[2].Detached {
		t.Fatalf("boots %+v: want 1 closed detached, 2 never closed, 3 closed", boots)
	}

	var b bytes.Buffer
	scratch := t.TempDir()
	res, err := recheck.Check(db, &b, recheck.Options{Dir: scratch})
	if err != nil || res.Divergence != nil || res.Matched != res.Records || res.Records != n {
		t.Fatalf("check: %v, matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}

	// Today's engine, in the replay, saw the host reboot too: the boots
	// of its scratch database carry the recorded boot ids and the detach
	// mark, and its lost records the same cause.
	runs, err := filepath.Glob(filepath.Join(scratch, "run-*", "replay.db"))
	if err != nil || len(runs) != 1 {
		t.Fatalf("scratch databases %v, %v", runs, err)
	}
	st, err = store.OpenReadOnly(runs[0], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	replayed, err := st.Boots()
	if err != nil || len(replayed) != 3 || !replayed[0].Detached || replayed[2].HostBootID != "boot-b" {
		t.Fatalf("the replay's boots %+v, %v: want boot 1 detached, boot 3 on boot-b", replayed, err)
	}
	lost := 0
	err = st.Records(1, func(r store.Record) error {
		if r.Event == states.Lost {
			lost++
			if !strings.Contains(r.Reason, "host rebooted") {
				t.Errorf("the replay's %s lost %q: want the host reboot", r.VM, r.Reason)
			}
		}
		return nil
	})
	if err != nil || lost != 2 {
		t.Fatalf("the replay wrote %d lost records (%v), want 2", lost, err)
	}
}

// TestTimelineShowsBootInfo: the timeline's boot separators name the
// daemon's version and host, say when the host rebooted between two boots
// (its boot id changed), and when a boot closed detached, leaving its VMs
// running; the JSON lines carry the same.
func TestTimelineShowsBootInfo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "detach.db")
	buildDetachReboot(t, path)
	db := openUTC(t, path)
	var b bytes.Buffer
	if err := db.Timeline(&b, replay.TimelineOptions{}); err != nil {
		t.Fatal(err)
	}
	var seps []string
	for line := range strings.Lines(b.String()) {
		if strings.HasPrefix(line, "──") {
			seps = append(seps, strings.TrimSpace(line))
		}
	}
	want := []string{
		"── boot 1 (pid 4101, lifeline v0.9.0 (rev 3e3fd85a1b2c), host h1) started 2000-01-01 00:00:00.000 UTC ──",
		"── boot 1 closed at 2000-01-01 00:00:10.000 UTC, detached: its VMs left running for the next boot ──",
		"── boot 2 (pid 4102, lifeline v0.9.1 (rev d8767b1f00d2), host h1) started 2000-01-01 00:00:20.000 UTC ──",
		"── boot 2 never closed: DAEMON CRASH (pid 4102 died after record #10) ──",
		"── boot 3 (pid 4103, lifeline v0.9.1 (rev d8767b1f00d2), host h1) started 2000-01-01 00:01:40.000 UTC: host rebooted (boot id boot-a, now boot-b) ──",
		"── boot 3 closed cleanly at 2000-01-01 00:02:00.000 UTC ──",
	}
	if strings.Join(seps, "\n") != strings.Join(want, "\n") {
		t.Fatalf("separators:\n%s\nwant\n%s\ntimeline:\n%s", strings.Join(seps, "\n"), strings.Join(want, "\n"), b.String())
	}

	b.Reset()
	if err := db.Timeline(&b, replay.TimelineOptions{JSON: true}); err != nil {
		t.Fatal(err)
	}
	var rebooted, detached, versions int
	for line := range strings.Lines(b.String()) {
		var v struct {
			Kind         string `json:"kind"`
			Boot         uint64 `json:"boot"`
			Version      string `json:"version"`
			HostRebooted bool   `json:"hostRebooted"`
			Detached     bool   `json:"detached"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		switch {
		case v.Kind == "boot" && v.Version != "":
			versions++
			if v.HostRebooted != (v.Boot == 3) {
				t.Errorf("boot %d: hostRebooted %v", v.Boot, v.HostRebooted)
			}
			if v.HostRebooted {
				rebooted++
			}
		case v.Kind == "bootEnd" && v.Detached:
			detached++
			if v.Boot != 1 {
				t.Errorf("boot %d ended detached, want only boot 1", v.Boot)
			}
		}
	}
	if versions != 3 || rebooted != 1 || detached != 1 {
		t.Errorf("JSON timeline: %d boots with a version, %d rebooted, %d detached; want 3, 1, 1\n%s", versions, rebooted, detached, b.String())
	}
}

// TestExplainSaysDetachedAndHostRebooted: explain tells a boot that
// detached from one that stopped its VMs, and a host reboot between boots.
func TestExplainSaysDetachedAndHostRebooted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "detach.db")
	buildDetachReboot(t, path)
	db := openUTC(t, path)
	out, err := db.ExplainText("vm2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"the daemon detached at 00:00:10 UTC, leaving its VMs running, and came back as boot 2 at 00:00:20 UTC",
		"the daemon crashed (boot 2, pid 4102, never closed) and came back as boot 3 at 00:01:40 UTC, after the host rebooted (boot id boot-a, now boot-b)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain vm2 does not say %q:\n%s", want, out)
		}
	}
}
