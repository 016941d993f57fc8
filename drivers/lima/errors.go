package lima

import "errors"

// ErrAgentAlive means a host agent the driver did not expect still runs for
// the instance: ha.pid names a live process. Spawn refuses to start a second
// one (Lima's hostagent would fail on the pid file anyway); Cleanup and
// Remove refuse to hide its files.
var ErrAgentAlive = errors.New("a host agent still runs for the instance")

// ErrDriverAlive means the instance's VM driver process (QEMU) still runs,
// named by qemu.pid or by the identity the driver remembered when it saw it.
// Spawn refuses: a new host agent over a live QEMU fails on its disk locks,
// removes qemu.pid, exits 0 and leaks the old QEMU for good (measured with
// Lima 1.2.3). Kill it first (KillTree with the recorded identities, or
// `lifeline stop --force`).
var ErrDriverAlive = errors.New("the VM driver process (QEMU) still runs")

// ErrNoInstance means the instance directory or its lima.yaml is missing:
// Define was not called, or the instance was removed.
var ErrNoInstance = errors.New("no such Lima instance")

// ErrProtected means the instance is protected (`limactl protect`): Remove
// refuses, as `limactl delete` does.
var ErrProtected = errors.New("instance is protected")

// ErrBadSpec means a VM's spec cannot be used: an empty template, a
// ready mode the driver does not know, or an environment that would move
// the instance out of the driver's LIMA_HOME.
var ErrBadSpec = errors.New("bad spec")

// ErrNotSettled means an instance is half-way: its host agent runs without
// its VM driver process, or the other way round (starting, stopping, or
// left broken). It is not imported until it settles.
var ErrNotSettled = errors.New("the instance is neither running nor stopped")
