package daemon_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/internal/daemon"
	"github.com/lifeline-vm/lifeline/store"
)

// shutdownBound bounds every wait of the test.
const shutdownBound = 20 * time.Second

// Issue 9, item 3: once the daemon's shutdown begins (its context ends, as
// on SIGTERM) every command is answered 503 "the daemon is shutting down"
// (code shutting_down, CLI exit 1) and nothing new is started or created;
// the VMs it stopped are Stopped, and the boot is recorded closed.
func TestShutdownRefusesCommandsWith503(t *testing.T) {
	dir := t.TempDir()
	drv := drivertest.New()
	drv.Script("slow", drivertest.Behavior{IgnoreInterrupt: true}) // keeps the shutdown busy until its graceful deadline
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Options: engine.Options{
				Driver:          drv,
				Logger:          zerolog.New(zerolog.NewTestWriter(t)),
				GracefulTimeout: 2 * time.Second,
			},
			DataDir: dir,
			Ready:   func(sock string) { ready <- sock },
		})
	}()
	var sock string
	select {
	case sock = <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(shutdownBound):
		t.Fatal("daemon not ready")
	}
	c := client.New(sock)
	bctx, bcancel := context.WithTimeout(context.Background(), shutdownBound)
	defer bcancel()
	for _, vm := range []string{"slow", "g4"} {
		if _, err := c.Create(bctx, vm, api.Spec{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Start(bctx, "slow"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(bctx, "slow", api.Running, client.WaitOptions{Timeout: shutdownBound}); err != nil {
		t.Fatal(err)
	}

	cancel() // SIGTERM
	// The shutdown has begun once it stopped slow.
	for {
		v, err := c.Status(bctx, "slow")
		if err != nil {
			t.Fatal(err)
		}
		if v.State == "Stopping" {
			break
		}
		select {
		case <-bctx.Done():
			t.Fatalf("slow not Stopping within %v of the shutdown (%s)", shutdownBound, v.State)
		case <-time.After(10 * time.Millisecond):
		}
	}

	_, err := c.Start(bctx, "g4")
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeShuttingDown || !strings.Contains(ae.Message, "the daemon is shutting down") {
		t.Errorf("start g4 during the shutdown: %v (%#v), want code %s saying the daemon is shutting down", err, ae, api.CodeShuttingDown)
	}
	if _, err := c.Create(bctx, "g5", api.Spec{}); !errors.As(err, &ae) || ae.Code != api.CodeShuttingDown {
		t.Errorf("create g5 during the shutdown: %v, want code %s", err, api.CodeShuttingDown)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequestWithContext(bctx, http.MethodPost, "http://lifeline/v1/vms/g4/start", nil)
	if resp, err := hc.Do(req); err != nil {
		t.Errorf("POST start during the shutdown: %v", err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "the daemon is shutting down") {
			t.Errorf("POST start during the shutdown: %s %s, want 503 saying the daemon is shutting down", resp.Status, body)
		}
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon shutdown: %v", err)
		}
	case <-time.After(shutdownBound):
		t.Fatal("daemon did not stop")
	}
	if alive := drv.Alive("g4"); len(alive) > 0 {
		t.Errorf("g4 runs after the shutdown: pids %v", alive)
	}
	if alive := drv.Alive("slow"); len(alive) > 0 {
		t.Errorf("slow runs after the shutdown: pids %v", alive)
	}
	st, err := store.OpenReadOnly(filepath.Join(dir, daemon.DBName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	boots, err := st.Boots()
	if err != nil || len(boots) != 1 || boots[0].Closed.IsZero() {
		t.Errorf("boots %+v, %v: want one, closed cleanly", boots, err)
	}
	heads, err := st.Heads()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads {
		if h.VM == "g5" {
			t.Errorf("create g5 during the shutdown was recorded: %+v", h)
		}
		if h.State.String() != "Stopped" {
			t.Errorf("vm %s is %s after the shutdown, want Stopped", h.VM, h.State)
		}
	}
}

// A shutdown that leaves a VM live (here: its stop outlives the shutdown's
// bound) is not clean: Run returns an error naming the VM (exit status 1),
// and the boot stays open, as after a crash, for the next daemon to
// recover.
func TestShutdownLeavingAVMLiveKeepsTheBootOpen(t *testing.T) {
	dir := t.TempDir()
	drv := drivertest.New()
	drv.Script("stubborn", drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true})
	t.Cleanup(func() { drv.Kill("stubborn") })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Options: engine.Options{
				Driver:          drv,
				Logger:          zerolog.New(zerolog.NewTestWriter(t)),
				GracefulTimeout: time.Minute,
			},
			DataDir:         dir,
			ShutdownTimeout: 200 * time.Millisecond,
			Ready:           func(sock string) { ready <- sock },
		})
	}()
	var sock string
	select {
	case sock = <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(shutdownBound):
		t.Fatal("daemon not ready")
	}
	c := client.New(sock)
	bctx, bcancel := context.WithTimeout(context.Background(), shutdownBound)
	defer bcancel()
	if _, err := c.Create(bctx, "stubborn", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(bctx, "stubborn"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(bctx, "stubborn", api.Running, client.WaitOptions{Timeout: shutdownBound}); err != nil {
		t.Fatal(err)
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(shutdownBound):
		t.Fatal("daemon did not stop")
	}
	if !errors.Is(err, engine.ErrLeftLive) || !strings.Contains(err.Error(), `"stubborn"`) {
		t.Errorf("daemon shutdown that left stubborn Stopping returned %v, want an error naming it, wrapping ErrLeftLive", err)
	}
	st, err := store.OpenReadOnly(filepath.Join(dir, daemon.DBName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	boots, err := st.Boots()
	if err != nil || len(boots) != 1 || !boots[0].Closed.IsZero() {
		t.Errorf("boots %+v, %v: want one, left open (not a clean shutdown)", boots, err)
	}
}
