package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/internal/daemon"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// runDaemon runs a daemon over dir and drv on the host boot hostBoot until
// the returned stop is called; stop returns Run's error.
func runDaemon(t *testing.T, dir string, drv drivers.Driver, hostBoot string, detach bool) (*client.Client, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Options: engine.Options{
				Driver:         drv,
				Logger:         zerolog.New(zerolog.NewTestWriter(t)),
				HostBootID:     hostBoot,
				RestartBackoff: 10 * time.Millisecond,
			},
			DataDir:      dir,
			Version:      "test-build",
			DetachOnExit: detach,
			Ready:        func(sock string) { ready <- sock },
		})
	}()
	select {
	case sock := <-ready:
		return client.New(sock), func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(shutdownBound):
				t.Fatal("daemon did not stop")
				return nil
			}
		}
	case err := <-done:
		cancel()
		t.Fatalf("daemon: %v", err)
	case <-time.After(shutdownBound):
		cancel()
		t.Fatal("daemon not ready")
	}
	return nil, nil
}

func readDB(t *testing.T, dir string) ([]store.Boot, []store.Record) {
	t.Helper()
	st, err := store.OpenReadOnly(filepath.Join(dir, daemon.DBName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	boots, err := st.Boots()
	if err != nil {
		t.Fatal(err)
	}
	var recs []store.Record
	if err := st.Records(1, func(r store.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return boots, recs
}

// TestDaemonAfterHostReboot is issue 11 item 6 through the daemon, with
// issue 10 part 1's boot record: a daemon that detaches (--detach-on-exit)
// closes its boot with the detach mark, its version, the host's boot id and
// name; the host then reboots (its VM's agent gone, the boot id changed),
// and the next daemon records the VM lost because the host rebooted and,
// since the VM has --restart on-failure, brings it back to Running.
func TestDaemonAfterHostReboot(t *testing.T) {
	dir := t.TempDir()
	drv := drivertest.New()
	t.Cleanup(func() { drv.Kill("vm1") })
	ctx, cancel := context.WithTimeout(context.Background(), shutdownBound)
	defer cancel()

	c, stop := runDaemon(t, dir, drv, "boot-a", true)
	if _, err := c.Create(ctx, "vm1", api.Spec{Restart: engine.RestartOnFailure}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, "vm1", api.Running, client.WaitOptions{Timeout: shutdownBound}); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("detaching daemon: %v", err)
	}
	boots, recs := readDB(t, dir)
	host, _ := os.Hostname()
	if len(boots) != 1 || boots[0].Closed.IsZero() || !boots[0].Detached || boots[0].HostBootID != "boot-a" ||
		boots[0].HostName != host || !strings.HasPrefix(boots[0].Version, "test-build") {
		t.Fatalf("after the detach: boots %+v; want one, closed, detached, host boot boot-a, host %q, version test-build…", boots, host)
	}
	lastSeq := recs[len(recs)-1].Seq

	drv.Kill("vm1") // the host went down, and the VM with it
	c, stop = runDaemon(t, dir, drv, "boot-b", false)
	if _, err := c.Wait(ctx, "vm1", api.Running, client.WaitOptions{Since: lastSeq, Timeout: shutdownBound}); err != nil {
		t.Fatalf("vm1 after the host reboot: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("daemon on the new boot: %v", err)
	}
	boots, recs = readDB(t, dir)
	if len(boots) != 2 || boots[1].HostBootID != "boot-b" || !boots[1].HostRebooted(boots[0]) || boots[1].Detached {
		t.Fatalf("boots %+v; want a second one on host boot boot-b, not detached", boots)
	}
	var got []string
	for _, r := range recs[lastSeq:] {
		got = append(got, r.Event.String())
		if r.Event == states.Lost && !strings.Contains(r.Reason, "host rebooted (boot id boot-a, now boot-b)") {
			t.Errorf("lost %q: want the host reboot as its reason", r.Reason)
		}
	}
	want := "lost backoff restart spawned running stop exited"
	if strings.Join(got, " ") != want {
		t.Errorf("boot 2 of vm1: %s, want %s", strings.Join(got, " "), want)
	}
}
