package states

import (
	"context"
	"fmt"
	"sort"

	"github.com/looplab/fsm"
)

// Arrow is one row of the transition table: Event moves a VM from any of
// From to To.
type Arrow struct {
	Event Event
	From  []State
	To    State
	// Why says who raises the event and what it means.
	Why string
}

// table is the lifecycle, declared once. Every arrow has a reason to exist;
// the Why text is what the README and ARCHITECTURE describe.
var table = []Arrow{
	{Create, []State{Absent}, Stopped, "user: define the VM"},
	{Start, []State{Stopped}, Starting, "user or restart policy: spawn the agent"},
	{Spawned, []State{Starting}, Starting, "driver: the agent's process exists; record its identity before anything else"},
	{Spawned, []State{Stopping}, Stopping, "driver: an agent whose spawn record was lost is found before it is stopped"},
	{Spawned, []State{ForceStopping}, ForceStopping, "driver: an agent whose spawn record was lost is found before it is killed"},
	{EventRunning, []State{Starting}, Running, "driver: the agent reported it is up"},
	{StartFailed, []State{Starting}, Broken, "driver or timer: spawn failed, agent exited or errored, start deadline passed"},
	{Stop, []State{Starting, Running}, Stopping, "user, daemon shutdown, spec change"},
	{StopTimeout, []State{Stopping}, ForceStopping, "timer: the graceful deadline passed"},
	{ForceStop, []State{Starting, Running, Stopping, Broken}, ForceStopping, "user (--force), or cleanup of a Broken VM's leftovers"},
	{Exited, []State{Stopping, ForceStopping}, Stopped, "driver: the whole process tree is gone and cleanup is done"},
	{KillFailed, []State{Stopping, ForceStopping}, Broken, "driver: the tree survived the kill, or cleanup failed"},
	{Crashed, []State{Running}, Broken, "driver: the agent exited unasked"},
	{StoppedOutside, []State{Starting, Running}, Stopped, "driver: the agent was stopped by someone else (limactl stop, limactl stop -f), as its own log or files show; not a failure, so no restart"},
	{Adopted, []State{Stopped, Starting, Running}, Running, "recovery: a live, running agent whose identity matches the log; or the engine's look at a Stopped VM: an agent someone else started since its last record (limactl start), cause started_outside"},
	{Lost, []State{Starting, Running}, Broken, "recovery: the agent is gone"},
	{Reset, []State{Broken}, Stopped, "user: nothing of the VM runs any more; clear the failure"},
	{Delete, []State{Stopped, Broken}, Absent, "user: the VM leaves the live set; its log stays; or the engine's look at a Stopped VM: its definition was removed by someone else (limactl delete), cause deleted_outside"},
	{Release, []State{Stopped, Running, Broken}, Absent, "user: lifeline forgets the VM and leaves it to Lima (limactl) as it is: nothing is stopped or removed"},
	// update records a new spec without moving the VM; a Running VM is then
	// stopped and started again by the engine (two more records).
	{Update, []State{Stopped}, Stopped, "user: a new spec, applied at the next start"},
	{Update, []State{Running}, Running, "user: a new spec; the engine restarts the VM to apply it"},
	{Update, []State{Broken}, Broken, "user: a new spec, applied after reset and start"},
	{Update, []State{Starting}, Starting, "user: a new spec, applied at the next start (the agent already runs the old one)"},
	{Update, []State{Stopping}, Stopping, "user: a new spec, applied at the next start; the stop goes on"},
	{Update, []State{ForceStopping}, ForceStopping, "user: a new spec, applied at the next start; the kill goes on"},
	{Backoff, []State{Broken}, Broken, "restart policy: after a crash, a restart is due at the record's deadline; without one, the restart limit is reached"},
	{Restart, []State{Broken}, Starting, "restart policy: the backoff passed; the crashed VM starts again"},
}

// next is the table as a lookup: next[from][event] = to, with ok false for
// a forbidden move. Built once from table.
var next = func() (m [len(stateNames)][len(eventNames)]struct {
	to State
	ok bool
}) {
	for _, a := range table {
		for _, f := range a.From {
			if m[f][a.Event].ok {
				panic(fmt.Sprintf("states: duplicate arrow %s from %s", a.Event, f))
			}
			m[f][a.Event].to, m[f][a.Event].ok = a.To, true
		}
	}
	return m
}()

// Table returns a copy of the transition table, in declaration order.
func Table() []Arrow {
	out := make([]Arrow, len(table))
	for i, a := range table {
		a.From = append([]State(nil), a.From...)
		out[i] = a
	}
	return out
}

// Next returns the state that ev leads to from from, or an
// *InvalidTransitionError when the table has no such arrow. It is pure.
func Next(from State, ev Event) (State, error) {
	if from.Valid() && int(ev) < len(eventNames) && next[from][ev].ok {
		return next[from][ev].to, nil
	}
	return from, &InvalidTransitionError{From: from, Event: ev}
}

// Allowed lists the events the table allows from s, sorted by name.
func Allowed(s State) []Event {
	var out []Event
	if !s.Valid() {
		return out
	}
	for _, ev := range AllEvents() {
		if next[s][ev].ok {
			out = append(out, ev)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// NewMachine builds a looplab/fsm machine over the table, starting in
// initial. Events are named as in records ("stop_timeout"), states as by
// [State.String].
func NewMachine(initial State) *fsm.FSM {
	events := make(fsm.Events, 0, len(table))
	for _, a := range table {
		src := make([]string, len(a.From))
		for i, f := range a.From {
			src[i] = f.String()
		}
		events = append(events, fsm.EventDesc{Name: a.Event.String(), Src: src, Dst: a.To.String()})
	}
	return fsm.NewFSM(initial.String(), events, nil)
}

// Fire moves m by ev and returns the new state. A self-loop (spawned,
// adopted) is not an error, although looplab/fsm reports it as
// fsm.NoTransitionError.
func Fire(ctx context.Context, m *fsm.FSM, ev Event) (State, error) {
	from, err := ParseState(m.Current())
	if err != nil {
		return from, err
	}
	if err := m.Event(ctx, ev.String()); err != nil {
		if _, ok := err.(fsm.NoTransitionError); !ok {
			return from, &InvalidTransitionError{From: from, Event: ev}
		}
	}
	return ParseState(m.Current())
}
