package daemon

import (
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// The daemon's shutdown waits for the longest graceful stop it starts or
// finds under way, not only for the daemon's own graceful timeout: a VM
// with --graceful-timeout 5m is not cut off by a 30s bound.
func TestShutdownGraceCoversEachVM(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vm := func(st states.State, spec time.Duration, deadline time.Time) engine.VM {
		return engine.VM{Head: store.Head{State: st, Deadline: deadline}, Spec: drivers.Spec{GracefulTimeout: spec}}
	}
	// The engine's answer for a daemon without --graceful-timeout: the
	// spec's own, else Lima's 3m30s for a Lima VM, 30s for a command.
	grace := func(s drivers.Spec) time.Duration {
		switch {
		case s.GracefulTimeout > 0:
			return s.GracefulTimeout
		case s.DriverName() == "lima":
			return 30 * time.Second
		}
		return 20 * time.Second
	}
	for _, tc := range []struct {
		name string
		vms  []engine.VM
		want time.Duration
	}{
		{"the daemon's", []engine.VM{vm(states.Running, 0, time.Time{})}, 30 * time.Second},
		{"a running VM's own", []engine.VM{vm(states.Running, 5*time.Minute, time.Time{})}, 5 * time.Minute},
		{"a stopped VM's own is not waited for", []engine.VM{vm(states.Stopped, 5*time.Minute, time.Time{})}, 30 * time.Second},
		{"a stop --grace under way", []engine.VM{vm(states.Stopping, 0, now.Add(10*time.Minute))}, 10 * time.Minute},
		{"a command VM's shorter default is not the bound", []engine.VM{{Head: store.Head{State: states.Running}, Spec: drivers.Spec{Driver: "command"}}}, 30 * time.Second},
	} {
		if got := shutdownGrace(tc.vms, grace, now); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
