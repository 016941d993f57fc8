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
//
// Re-driving a history through today's engine (`lifeline replay check`)
// is replay/recheck's: replay itself imports only states and store, never
// the engine or a driver (deps_test.go).
//
// # Caveats
//
//   - Replay never performs side effects and never logs as if it did.
//   - Times print in the location the caller gives ([Options.Location]);
//     the CLI uses the local zone unless told --utc.
//   - Explain and Report hold a VM's (Explain: one episode's, Report the
//     whole history's) records in memory; they are meant for
//     incident-sized histories. Timeline, Verify, At, Export and Graph stream.
package replay
