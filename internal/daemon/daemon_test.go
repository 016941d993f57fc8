package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
)

// TestStartRemovesStaleTempFiles is issue 9 item 6's "stale *.tmp files
// from killed writers are removed at start": the daemon removes the
// temporary files of atomicfile's pattern in the data dir and its disks
// dir, and nothing else.
func TestStartRemovesStaleTempFiles(t *testing.T) {
	dataDir, err := os.MkdirTemp("", "ll")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	disks := filepath.Join(dataDir, DisksDir)
	if err := os.Mkdir(disks, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := []string{filepath.Join(disks, "r.raw.2857093.tmp"), filepath.Join(dataDir, "x.19.tmp")}
	keep := []string{filepath.Join(disks, "r.raw"), filepath.Join(dataDir, "notes.tmp")}
	for _, p := range append(append([]string{}, stale...), keep...) {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: dataDir, Options: engine.Options{Driver: drivertest.New(), Logger: zerolog.Nop()}, LockTimeout: time.Second,
			Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("daemon: %v", err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("stale %s not removed: %v", p, err)
		}
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestConfigOptionsReachTheEngine: Config embeds engine.Options, and what
// is set there is what the engine runs with (the start record's deadline
// is the start timeout given, less the moment between the two clock
// reads), not a copy of some of its fields.
func TestConfigOptionsReachTheEngine(t *testing.T) {
	dataDir, err := os.MkdirTemp("", "ll")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	const startTimeout = 7 * time.Minute
	go func() {
		done <- Run(ctx, Config{DataDir: dataDir, Options: engine.Options{Driver: drivertest.New(), Logger: zerolog.Nop(), StartTimeout: startTimeout},
			LockTimeout: time.Second, Ready: func(sock string) { ready <- sock }})
	}()
	var sock string
	select {
	case sock = <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	c := client.New(sock)
	if _, err := c.Create(ctx, "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Start(ctx, "vm1")
	if err != nil {
		t.Fatal(err)
	}
	var start api.Record
	err = c.Events(ctx, client.EventsOptions{Since: res.Seq}, func(r api.Record) error {
		start = r
		return errStop
	})
	if err != nil && err != errStop {
		t.Fatal(err)
	}
	if got := start.Deadline.Sub(start.Time); start.Event != api.EventStart || got > startTimeout || got < startTimeout-time.Second {
		t.Errorf("start record %s with deadline %v after it, want start with %v", start.Event, got, startTimeout)
	}
}

var errStop = errors.New("stop")
