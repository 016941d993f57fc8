package daemon_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/internal/daemon"
	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/replay/recheck"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// create --autostart through the daemon (issue 11 item 6): a VM whose
// spec says autostart is started by every daemon that starts, after its
// recovery: after a clean shutdown that stopped it (a login), and after a
// host reboot that took it down while it ran (reset, then start, with no
// restart policy). The other VM, without autostart, is not.
func TestDaemonAutostart(t *testing.T) {
	dir := t.TempDir()
	drv := drivertest.New()
	t.Cleanup(func() { drv.Kill("auto") })
	ctx, cancel := context.WithTimeout(context.Background(), shutdownBound)
	defer cancel()

	c, stop := runDaemon(t, dir, drv, "boot-a", false)
	if _, err := c.Create(ctx, "auto", api.Spec{Autostart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "manual", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Status(ctx, "auto"); err != nil || !v.Autostart || v.State != api.Stopped {
		t.Fatalf("auto after create: %+v, %v; want Stopped with autostart", v, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The next daemon (a login) starts it.
	c, stop = runDaemon(t, dir, drv, "boot-a", true)
	if _, err := c.Wait(ctx, "auto", api.Running, client.WaitOptions{Timeout: shutdownBound}); err != nil {
		t.Fatalf("auto after the daemon started: %v", err)
	}
	if v, err := c.Status(ctx, "manual"); err != nil || v.State != api.Stopped {
		t.Fatalf("manual: %+v, %v; want Stopped", v, err)
	}
	if err := stop(); err != nil { // detaches: auto runs on
		t.Fatal(err)
	}
	_, recs := readDB(t, dir)
	lastSeq := recs[len(recs)-1].Seq

	drv.Kill("auto") // the host went down, and the VM with it
	c, stop = runDaemon(t, dir, drv, "boot-b", false)
	if _, err := c.Wait(ctx, "auto", api.Running, client.WaitOptions{Since: lastSeq, Timeout: shutdownBound}); err != nil {
		t.Fatalf("auto after the host reboot: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, recs = readDB(t, dir)
	var got []string
	for _, r := range recs {
		if r.VM != "auto" {
			continue
		}
		got = append(got, r.Event.String())
		if (r.Event == states.Start || r.Event == states.Reset) && r.Cause.Kind != store.CauseAutostart {
			t.Errorf("%s seq %d: cause %s, want autostart", r.Event, r.Seq, r.Cause.Kind)
		}
	}
	want := "create start spawned running lost reset start spawned running stop exited"
	if strings.Join(got, " ") != want {
		t.Errorf("auto: %s, want %s", strings.Join(got, " "), want)
	}
	// Today's engine, replaying the history, writes the same records:
	// the autostart records are the engine's own at each Open.
	db, err := replay.Open(filepath.Join(dir, daemon.DBName), replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Divergence != nil || res.Matched != res.Records {
		t.Errorf("replay check: %v; matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
}
