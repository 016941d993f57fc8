package daemoncmd

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
)

// TestDaemonGracefulTimeoutPerDriver: the default graceful timeout is the
// driver's, not the daemon's for every VM: a Lima VM with limactl's host
// agent gets Lima's own wait (3m30s), a command VM the engine's default (the
// driver answers 0), and so does a Lima VM with agent-sim. The daemon's
// --graceful-timeout, when given, goes to the engine, which puts it before
// any driver's (engine's TestGracefulTimeoutPrecedence).
func TestDaemonGracefulTimeoutPerDriver(t *testing.T) {
	// The daemon checks that its host agent command exists: a limactl and
	// a lifeline of the test's own on PATH, and limactl by its full path.
	bin := t.TempDir()
	for _, name := range []string{"limactl", "lifeline"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, tc := range []struct {
		cmd           string
		lima, command time.Duration
	}{
		{"limactl hostagent", lima.DefaultGracefulTimeout, 0},
		{filepath.Join(bin, "limactl") + " hostagent", lima.DefaultGracefulTimeout, 0},
		{"lifeline agent-sim", 0, 0},
	} {
		drv, err := newDriver(&daemonOptions{hostAgentCmd: tc.cmd, limaHome: t.TempDir()}, lifelined, t.TempDir(), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			spec drivers.Spec
			want time.Duration
		}{
			{drivers.Spec{}, tc.lima},
			{drivers.Spec{Driver: DriverLima}, tc.lima},
			{drivers.Spec{Driver: DriverCommand, Command: []string{"/bin/true"}}, tc.command},
		} {
			if got := drv.DefaultGracefulTimeout(c.spec); got != c.want {
				t.Errorf("%q, driver %q: default grace %s, want %s", tc.cmd, c.spec.Driver, got, c.want)
			}
		}
	}
	if lima.DefaultGracefulTimeout <= 3*time.Minute {
		t.Errorf("Lima's default %s does not outlast Lima's own 3-minute wait for the guest", lima.DefaultGracefulTimeout)
	}
}

// lifelined is the daemon's Options as cmd/lifelined has them, with a
// Prepare that makes nothing: limaprep is lifelined's, not this package's.
var lifelined = Options{
	Prepare: func(context.Context, lima.Instance) ([]string, error) { return nil, nil },
}
