// Package states holds lifeline's lifecycle: the VM states, the events that
// move a VM between them, and the one transition table that every other
// package reads (the engine, recovery, replay's verifier and the rendered
// diagram).
//
// The table is pure data. [Next] answers "where does this event lead from
// this state" without side effects, and [NewMachine] builds a looplab/fsm
// machine from the same table for callers that want one per VM.
// [RenderMermaid] and [RenderDot] draw the table: each event by its
// [Origin] (a user's command solid, an observation of the OS dashed,
// lifeline's own decision thick or dotted), a state's self-loops merged
// into one arrow so their labels never run together.
//
// # States
//
// A VM lives in one of six states: Stopped, Starting, Running, Stopping,
// ForceStopping and Broken. A seventh value, Absent, is the bookend of a
// VM's history: the state before its create record and after its delete
// record (the tombstone). Absent is in the table so that create and delete
// are arrows like any other, and the verifier can check them.
//
// # Caveats
//
// Self-loops are real transitions: spawned (Starting → Starting) records
// the agent's identity as soon as it is seen, and adopted (Running →
// Running) records that a restarted daemon took over a live agent. A
// command that is not an arrow of the table (stop a Stopped VM, start a
// Running one) is an [InvalidTransitionError], never a silent no-op.
package states
