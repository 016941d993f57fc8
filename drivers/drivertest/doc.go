// Package drivertest is a scripted [drivers.Driver] for deterministic tests
// of the engine and of programs that embed it.
//
// It models processes instead of running them: Spawn makes a "process"
// with a fresh pid and start time, Interrupt makes it exit unless told to
// ignore interrupts, KillTree ends it unless told it survives, and so on.
// Every call is recorded, in order, with the time of the driver's clock,
// so a test can assert what the engine did to the OS and when.
//
// Time comes from package time: run tests inside testing/synctest and the
// driver's delays (RunningAfter, CrashAfter) are virtual. The model
// outlives the engine: give the same Driver to a second engine after a
// simulated crash, and it finds the "processes" the first one left.
//
// # Behaviour per VM
//
// [Driver.Script] sets a [Behavior] for a VM: fail to spawn, never report
// running, report running after a delay, crash after a delay, ignore
// interrupt or terminate, survive the kill, fail to clean up. Tests can also
// act as the OS at any time: [Driver.Exit] makes an agent exit,
// [Driver.StopOutside] makes it exit as stopped by someone else (limactl
// stop),
// [Driver.Recycle] gives a dead agent's pid to an unrelated process, and
// [Driver.Report] makes an agent report an observation (running, exited
// with a given reason, an error) at the moment the test chooses, which is
// how a recorded history is scripted observation by observation.
//
// The model honours the driver contract: it passes the suite of package
// drivers/conformance, as the real drivers do. In particular Lookup finds
// an unrecorded agent only if it started at or after since, and Cleanup
// refuses ([ErrAlive]) while an agent of the VM lives.
package drivertest
