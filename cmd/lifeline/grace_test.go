package main

import (
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/engine"
)

// The daemon's graceful timeout defaults to Lima's own wait with limactl's
// host agent, and to the engine's with any other; a given one wins.
func TestDaemonGracefulTimeoutDefault(t *testing.T) {
	for _, tc := range []struct {
		cmd   string
		given time.Duration
		want  time.Duration
	}{
		{"limactl hostagent", 0, lima.DefaultGracefulTimeout},
		{"/usr/local/bin/limactl hostagent", 0, lima.DefaultGracefulTimeout},
		{"lifeline agent-sim", 0, engine.DefaultGracefulTimeout},
		{"limactl hostagent", 5 * time.Second, 5 * time.Second},
	} {
		o := &daemonOptions{hostAgentCmd: tc.cmd, gracefulTimeout: tc.given}
		if got := o.defaultGracefulTimeout(); got != tc.want {
			t.Errorf("%q with --graceful-timeout %s: %s, want %s", tc.cmd, tc.given, got, tc.want)
		}
	}
	if lima.DefaultGracefulTimeout <= 3*time.Minute {
		t.Errorf("Lima's default %s does not outlast Lima's own 3-minute wait for the guest", lima.DefaultGracefulTimeout)
	}
}
