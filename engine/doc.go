// Package engine runs one state machine per VM over the store's log and a
// [drivers.Driver].
//
// # The durability rule
//
// Every transition is appended to the store, and the append has returned
// (fsync) before the engine starts the effect it implies: Stopping is
// durable before the interrupt is sent, Starting before the agent is
// spawned. What the driver observes (the agent's identity, that it is up,
// that it exited) is recorded as soon as it is seen. Deadlines (the start
// deadline, the graceful stop deadline) are fields of the records, so a
// restarted engine resumes them from the log and its clock, not from timers
// that died with the old process. When the store cannot write, the engine
// does not touch the process, and the caller gets the store's error.
//
// # Concurrency
//
// Commands and observations for one VM are serialised by that VM's lock;
// commands for different VMs never wait on each other (their appends share
// an fsync through the store's group commit). Stop and Start return as soon
// as their record is durable; the effects run in the background, and
// [Engine.WaitFor] and [Engine.Subscribe] tell what happened next.
//
// # Recovery
//
// [Open] loads every VM's head, asks the driver what really runs, and
// records what it decides, following the recovery table of DESIGN.md (see
// recover.go). A pid whose identity does not match the log is not the agent:
// it is never signalled, and the VM is treated as gone. VMs recover in
// parallel with a bound; one that fails is logged and marked Broken, and
// never blocks the others. Once every VM is recovered, Open starts each
// Stopped VM whose spec says Autostart (import.go).
//
// # Beside the driver's own tools
//
// A driver that can see what someone else did to a VM (drivers.OutsideFinder,
// drivers.Importer; Lima's limactl) lets the engine record a stop, a start
// or a delete from outside (outside.go), take over a VM made outside
// ([Engine.Import]) and leave one to its tools ([Engine.Release]); each is a
// record with a cause that says who moved the VM.
//
// # Caveats
//
// The engine does not own the store: the caller opens it before [Open] and
// closes it after [Engine.Close]. [Engine.Close] detaches (agents keep
// running, to be adopted by the next Open); [Engine.Shutdown] stops them.
package engine
