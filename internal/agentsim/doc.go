// Package agentsim is `lifeline agent-sim`: a stand-in for Lima's
// `limactl hostagent` that speaks the same protocol, so that the Lima driver,
// its tests, the demo and benchmarks run on a machine without Lima or QEMU.
//
// # Command line and files
//
// The command line is limactl hostagent's: --pidfile PATH, --socket PATH and
// the instance NAME. The instance directory is the directory of --pidfile:
// with Lima's layout that is $LIMA_HOME/NAME, holding ha.pid, ha.sock, and
// the ha.stdout.log and ha.stderr.log the caller redirects stdout and
// stderr to. File names come from Lima's pkg/store/filenames.
//
// # What an agent does
//
//  1. It claims the pid file: fails ([ErrPIDFileInUse]) if the file names a
//     live process, else writes its pid ("PID\n", Lima's format) to a *.tmp
//     beside it and renames it over.
//  2. It serves Lima's hostagent API on the unix socket: GET /v1/info
//     answers api.Info ({"sshLocalPort":N}) as Lima's pkg/hostagent/api/server
//     does. The port is 60022 for "default", else a free local port, as
//     Lima picks; nothing listens on it.
//  3. It starts a driver child, the stand-in for QEMU: this same program
//     again ([Options].DriverArgv, whose main is [RunDriver]), in its own
//     process group, with plain exec.Command, its pid in qemu.pid
//     (filenames.PIDFile("qemu")). The child only waits for SIGINT or
//     SIGTERM. Like QEMU, it outlives an agent killed with SIGKILL.
//  4. It prints Lima's events (pkg/hostagent/events.Event, one JSON line
//     each, with "time"), as the real hostagent does: first
//     {"status":{"sshLocalPort":N}}, then {"status":{"running":true,
//     "sshLocalPort":N}} after LIFELINE_SIM_START_DELAY. Logs go to stderr
//     in logrus's JSON format, which Lima's events.Watch propagates.
//  5. On SIGINT or SIGTERM (or ctx) it stops gracefully, in the real
//     hostagent's order: SIGINT to the driver child's group, a wait of
//     [DriverStopTimeout], then SIGKILL, and qemu.pid goes once the child
//     is reaped; then {"status":{"exiting":true}}; then ha.sock and ha.pid
//     go, and Run returns nil (exit 0).
//
// If the driver child exits unasked, the agent reports "exiting" and fails
// with [ErrDriverExited], as Lima's hostagent stops when its driver does.
//
// # Knobs
//
// Behaviour is set by the LIFELINE_SIM_* environment variables listed in
// [Knobs] and read by [ConfigFromEnv]; a value that does not parse is a
// [*KnobError] naming the variable, which the command reports as a usage
// error (exit 2).
//
// # Caveats
//
//   - Run owns the process's SIGINT and SIGTERM: a signal not ignored is
//     caught with signal.Notify, which re-enables it even if the parent
//     started the agent with it ignored; an ignored one is set to SIG_IGN
//     for the whole process and its driver child.
//   - LIFELINE_SIM_CRASH_AFTER counts from "running"; with
//     LIFELINE_SIM_NEVER_RUNNING it never fires. A crash is a killed
//     agent's end: no "exiting" event, and ha.pid, ha.sock and qemu.pid stay
//     for the caller's stale-file cleanup.
//   - LIFELINE_SIM_FAIL_START fails before the driver child starts: an event
//     with "errors", then "exiting" (the real hostagent's Run always ends with
//     it), then exit 1 with ha.pid and ha.sock removed.
//   - Real Lima leaves ha.sock behind after a graceful stop (its listener is
//     never closed); the agent removes it.
//   - On Windows the driver child's group gets CTRL_BREAK, which only reaches
//     a process sharing the agent's console; otherwise it is killed at once.
//   - Events are stamped with the wall clock: this package simulates a
//     process in real time, and tests of it run real processes.
package agentsim
