// Package recheck re-drives a recorded history through today's engine and
// reports the first place where today's engine decides differently: the
// `lifeline replay check` verb. It is the only reader of logs that runs
// the engine, and with it the scripted driver (drivers/drivertest);
// replay, which reads and presents logs, imports neither (deps_test.go).
//
// [Check] runs the engine on virtual time, over the scripted driver and a
// scratch database in a temporary directory, and compares, record by
// record for each VM, what it writes with what was recorded.
//
// # Caveats
//
//   - It never performs side effects: never a real process, never a write
//     to the file it reads ([replay.Open] opens it read-only).
//   - It holds the whole history in memory; it is meant for incident-sized
//     histories.
//   - It derives the driver's observations from the records: what the log
//     does not say (how long a real kill took, an agent's exit code) is
//     scripted as the simplest behaviour that yields the same records, and
//     times are compared within [Options.Tolerance].
//   - The file keeps only each VM's last spec (older ones only by hash): a
//     create or update whose spec is gone is replayed with the last one,
//     with the restart policy and the graceful timeout the history shows
//     for it (a stop's deadline under it).
package recheck
