// Package conformance is the contract of [drivers.Driver] as one test suite
// that every driver runs, in the manner of containerd's snapshotter test
// suite (core/snapshots/testsuite): a driver's package has a test
//
//	func TestConformance(t *testing.T) { conformance.Run(t, factory) }
//
// whose [Factory] gives each case a fresh driver and the specs of agents
// that behave in a given way ([Agent]). The cases, each a subtest:
//
//   - SpawnThenIdentity: Spawn returns the agent's identity (a pid and a
//     start time); Watch reports ObsRunning about that identity, and so
//     does every later watch of the agent that is up, also one from a
//     restarted driver; Lookup with the recorded identity finds it alive,
//     also from a restarted driver.
//   - LookupSince: with no identity recorded, Lookup finds the agent
//     through the driver's own files when it started after since, and
//     does not when it started before.
//   - KillTreeIdempotent: KillTree of a live tree returns once it is gone
//     (Lookup says Gone at once); KillTree of a dead tree, again, from a
//     restarted driver, or of an agent that exited on its own, is success.
//   - RecycledPIDNeverSignalled: an identity whose pid is now held by
//     another process (same pid, another start time) is Gone to Lookup,
//     exited to Watch, success to KillTree, and Interrupt, Terminate and
//     KillTree never signal the process that holds the pid.
//   - CleanupRefusedWhileAlive: Cleanup fails while the agent lives, also
//     from a restarted driver that did not spawn it, and leaves it findable;
//     after KillTree it succeeds.
//   - ExitObservedOnce: every watch (two at once, one started after the
//     exit, one from a restarted driver) reports the exit exactly once and
//     nothing after it; a watch whose context ended reports nothing more,
//     once what was on its way (within the grace) has landed.
//   - InterruptThenTerminate: an agent that ignores Interrupt lives on
//     after it and is ended by Terminate.
//   - TerminateThenKillTree: an agent that ignores both lives on after them
//     and is ended by KillTree.
//
// # Waiting
//
// Real processes take time: every wait polls with a bound ([Setup].Bound),
// and no sleep stands for an event. Only a negative ("the agent was not
// hurt", "no second exit was reported") needs a window: the suite waits
// [Setup].Grace, the time a signal the driver wrongly sent would take to
// show, before it concludes. A driver whose signals act within the call
// (the scripted one) sets no grace.
//
// # Caveats
//
//   - The suite runs real processes for real drivers: run it only on an OS
//     where the driver runs, and keep the factory's cleanup able to end
//     every process a failed case leaves behind. The suite itself kills
//     every agent it spawned, by its recorded identity, at the end of each
//     case.
//   - The package imports testing; it is for tests only. Keep it out of
//     package drivertest, which programs (replay) link.
package conformance
