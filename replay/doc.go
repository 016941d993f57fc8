// Package replay is lifeline's post-mortem tool: it reads a database,
// often one copied off a machine where a VM ended Broken, and tells what
// happened, in what order, and why.
//
// Every verb reads; none writes. [Open] opens the file read-only (no
// migration, no boot record), and the file is byte-identical afterwards.
// A file held by a live daemon cannot be opened (the daemon holds its
// lock): [HeldError] names the daemon's pid and says to copy the file with
// `lifeline backup FILE` first.
//
//   - [DB.Timeline] prints every record in global order, with the daemon's
//     boots as separators and a boot that never closed marked as a crash of
//     the daemon. It streams: memory does not grow with the log.
//   - [DB.Verify] checks checksums, sequences, every transition against
//     the table ([states.Next]), heads against the fold of their logs
//     ([store.Head.Apply]), and boots; it prints every problem with its
//     position.
//   - [DB.Explain] tells in sentences how a VM came to its current state
//     since it was last healthy.
//   - [DB.At] folds the log up to a moment and lists every VM's state then.
//   - [DB.Export] writes every record as one JSON object per line, with the
//     field names of [store.Record].
//   - [DB.Graph] draws the lifecycle diagram with the arrows a VM took and
//     how many times.
//   - [DB.Report] writes one self-contained HTML file with an SVG timeline.
//   - [Check] re-drives a recorded history through today's engine on
//     virtual time and reports the first place where today's engine decides
//     differently.
//
// # Caveats
//
//   - Replay never performs side effects and never logs as if it did. Check
//     runs the engine, but on the scripted driver (drivers/drivertest) and
//     a scratch database in a temporary directory, never on a real process
//     or on the file it reads.
//   - Times print in the location the caller gives ([Options.Location]);
//     the CLI uses the local zone unless told --utc.
//   - Explain, Report and Check hold a VM's (Explain: one episode's, Report
//     and Check: the whole history's) records in memory; they are meant for
//     incident-sized histories. Timeline, Verify, At, Export and Graph stream.
//   - Check derives the driver's observations from the records: what the
//     log does not say (how long a real kill took, an agent's exit code) is
//     scripted as the simplest behaviour that yields the same records, and
//     times are compared within [CheckOptions.Tolerance].
package replay
