package lima

import (
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// DefaultGracefulTimeout is the graceful timeout a daemon running Lima's
// own host agent (limactl hostagent) gives a VM whose spec sets none.
//
// On SIGINT the host agent asks the guest to power off (QEMU's ACPI power
// button) and waits up to 3 minutes for QEMU to exit before it kills QEMU
// itself; then it exits. The engine forces the VM only after that wait and
// a margin for Lima's own kill and exit on a loaded host, so lifeline never
// cuts a guest's shutdown shorter than `limactl stop` would. A Debian guest
// under TCG on a loaded 2-core host powered off in 25.7 s.
const DefaultGracefulTimeout = 3*time.Minute + 30*time.Second

// DefaultGracefulTimeout is the graceful timeout of a VM whose spec sets
// none ([drivers.GraceDefaulter]): Options.GracefulTimeout, else the
// package's DefaultGracefulTimeout with limactl's host agent, else 0 (the
// engine's default, for agent-sim).
func (d *Driver) DefaultGracefulTimeout(drivers.Spec) time.Duration { return d.grace }
