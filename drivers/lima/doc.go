// Package lima is the [drivers.Driver] for Lima instances: it runs Lima's
// `limactl hostagent` (or `lifeline agent-sim`, which speaks the same
// protocol) for each VM, the way `limactl start` does, and does better where
// Lima 1.2.3's own start and stop go wrong.
//
// # Files
//
// A VM is the Lima instance <LimaHome>/<vm>/ with Lima's file names
// (pkg/store/filenames): lima.yaml and lima-version (Define), ha.pid,
// ha.sock, ha.stdout.log (the agent's JSON events, pkg/hostagent/events),
// ha.stderr.log, and the VM driver's pid file, qemu.pid (vz.pid, wsl2.pid).
// The driver adds one file, RememberedDriverFile, with the full identity of
// the QEMU it saw.
//
// # Two processes
//
// The host agent runs in a process group of its own (process.Start); QEMU,
// its child, runs in another one, and outlives an agent killed with
// SIGKILL, even one whose whole group was killed. Watch reports QEMU's
// identity (ObsIdentity) as soon as qemu.pid names a process that started
// after the agent; KillTree kills both trees, each by identity.
//
// # Events
//
// Watch tails ha.stdout.log with a small tailer of its own, not Lima's
// events.Watch: that one follows the file with nxadm/tail (inotify
// watches whose cleanup Lima itself says not to call), needs ha.stderr.log
// too, logs through logrus's global logger, and fails on a line it cannot
// parse. The tail here reads at a bounded interval (5 ms doubling to
// PollInterval while nothing comes), keeps a half-written line until its
// newline, starts over when the file is replaced or truncated, and stops
// altogether once the agent is up and identified: from then on the watch
// only waits for the agent's exit (Wait for our child, process.WaitExit,
// pidfd on Linux, for an adopted one). Stale events: Spawn re-creates the
// logs, as Lima's start does, and Watch skips events stamped before the
// agent started; a Watch after a daemon restart reads this agent's events
// from the top again, and the engine takes what it already recorded as a
// no-op.
//
// # Readiness
//
// spec.Ready "guest" (the default) is the event `"running": true`. "agent"
// is what `limactl list` calls Running: GET /v1/info answers on ha.sock
// (Lima's own client) and the VM driver process runs. A blank disk, or any
// guest without SSH, only ever reaches the second.
//
// # Measured traps, and what the driver does
//
//   - A new host agent over an orphaned QEMU fails on the old QEMU's disk
//     locks, removes qemu.pid, exits 0, and the orphan leaks for good.
//     Spawn refuses (ErrDriverAlive, naming the pid) while qemu.pid or the
//     remembered identity names a live QEMU, and ErrAgentAlive while ha.pid
//     names a live agent.
//   - SIGINT to an agent whose guest does not answer the ACPI power button
//     makes Lima wait 3 minutes before it kills QEMU. The engine's graceful
//     deadline decides instead: Terminate, then KillTree.
//   - SIGKILL of the agent leaves QEMU alive: Lookup reports the agent Gone
//     (and QEMU's identity, found through qemu.pid, when none was recorded),
//     and the engine's reap calls KillTree, which kills that QEMU by
//     identity.
//   - Lima's start spins on ha.pid without sleeping and runs the agent with
//     exec.CommandContext; Spawn does neither.
//   - `limactl stop` ends the agent exactly as a guest that powers itself
//     off does (exit 0 after "exiting"); only the agent's own log line of
//     the SIGINT tells them apart. Watch reports that line, or the files
//     `limactl stop -f` removes, as Observation.Outside (outside.go), and
//     the engine records a stop from outside, not a crash.
//
// # Beside limactl
//
// A user's `limactl start` of a VM lifeline holds Stopped is found by
// FindOutside (adopt.go); one racing lifeline's start is followed, not
// fought (race.go); an instance `limactl create` made is read by
// FindInstance for the engine's import, and nothing of it is written
// (import.go).
//
// # Pid files
//
// ha.pid and qemu.pid hold a bare pid, which does not name a process across
// pid reuse. The driver trusts one only when the live process started no
// later than the file was written (its mtime, within
// process.StartedAtSlack); a process that reused the pid started after
// that. Recorded and remembered identities are checked exactly.
//
// # Prepare
//
// A real host agent needs what Lima's instance.Prepare makes (base disk,
// diff disk, the guest agent's path); Options.Prepare does it before each
// spawn, and package limaprep has one built on Lima's own packages. It is a
// separate package because it links Lima's pkg/limayaml, whose package
// initialisation panics when $HOME is unset (limaprep guards against that,
// see its doc); this package does not link it. agent-sim needs no Prepare:
// no disks, no qemu-img, no network.
//
// # Caveats
//
//   - Lima's store.Inspect is not used: it reads $LIMA_HOME from the
//     process environment (one home per process), links pkg/limayaml (the
//     init panic above), and removes pid files it finds stale as a side
//     effect. Lookup reads the same files itself.
//   - Define writes lima.yaml as given; Lima's schema validation is
//     limaprep's (it needs pkg/limayaml).
//   - Additional disks (Lima's _disks/<name>/in_use_by) are not unlocked
//     after a forced stop, as `limactl stop -f` does.
//   - Outside Linux, a QEMU its agent forked but which had not written
//     qemu.pid yet when the agent was killed is not found by KillTree.
package lima
