package states

import (
	"fmt"
	"strings"
)

// State is where a VM is in its lifecycle. The zero value is [Absent].
type State uint8

// The states. The numeric values are part of the store's encoding: never
// renumber, only append.
const (
	Absent State = iota
	Stopped
	Starting
	Running
	Stopping
	ForceStopping
	Broken
)

var stateNames = [...]string{
	Absent:        "Absent",
	Stopped:       "Stopped",
	Starting:      "Starting",
	Running:       "Running",
	Stopping:      "Stopping",
	ForceStopping: "ForceStopping",
	Broken:        "Broken",
}

// AllStates lists every state, Absent first, in numeric order.
func AllStates() []State {
	out := make([]State, len(stateNames))
	for i := range stateNames {
		out[i] = State(i)
	}
	return out
}

// Valid reports whether s is one of the declared states.
func (s State) Valid() bool { return int(s) < len(stateNames) }

func (s State) String() string {
	if !s.Valid() {
		return fmt.Sprintf("State(%d)", uint8(s))
	}
	return stateNames[s]
}

// ParseState parses a state name, case-insensitively ("running" and
// "Running" are the same state).
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if strings.EqualFold(n, name) {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want one of %s)", ErrUnknownState, name, strings.Join(stateNames[:], ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownState, uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Live reports whether a VM in state s exists (is not Absent).
func (s State) Live() bool { return s != Absent && s.Valid() }

// Event is what moves a VM from one state to another.
type Event uint8

// The events. The numeric values are part of the store's encoding: never
// renumber, only append. EventNone is the zero value and never valid in a
// record. Each Go name is its wire name in CamelCase ("stop_timeout" is
// StopTimeout); the agent's "running" report is EventRunning, since Running
// is the state it leads to.
const (
	EventNone    Event = iota
	Create             // user: the VM is defined (Absent → Stopped)
	Start              // user or restart policy: spawn the agent
	Spawned            // driver: the agent's process exists; its identity is recorded
	EventRunning       // driver: the agent reported it is up
	StartFailed        // driver or timer: spawn failed, agent exited or errored, start deadline passed
	Stop               // user, daemon shutdown, spec change: ask the agent to stop
	StopTimeout        // timer: the graceful deadline passed
	ForceStop          // user (--force): kill without waiting
	Exited             // driver: the whole tree is gone and cleanup is done
	KillFailed         // driver: the tree survived the kill, or cleanup failed
	Crashed            // driver: the agent exited unasked
	Adopted            // recovery: a live agent whose identity matches the log
	Lost               // recovery: the agent is gone
	Reset              // user: a Broken VM is cleaned up and Stopped again
	Delete             // user: the VM leaves the live set (tombstone)
	Update             // user: a new spec; it applies at the next start
	Backoff            // restart policy: a restart is due at the deadline, or (no deadline) the limit is reached
	Restart            // restart policy: the backoff passed; start again

	// StoppedOutside, driver: the agent was stopped by someone other than
	// lifeline (limactl stop), as the driver's evidence shows.
	StoppedOutside

	// Release, user: lifeline forgets the VM and leaves it to its driver's
	// own tools (Lima's limactl), running or not; nothing of it is
	// stopped or removed.
	Release
)

var eventNames = [...]string{
	EventNone:    "none",
	Create:       "create",
	Start:        "start",
	Spawned:      "spawned",
	EventRunning: "running",
	StartFailed:  "start_failed",
	Stop:         "stop",
	StopTimeout:  "stop_timeout",
	ForceStop:    "force_stop",
	Exited:       "exited",
	KillFailed:   "kill_failed",
	Crashed:      "crashed",
	Adopted:      "adopted",
	Lost:         "lost",
	Reset:        "reset",
	Delete:       "delete",
	Update:       "update",
	Backoff:      "backoff",
	Restart:      "restart",
	// Named for what happened to the VM, like "crashed".
	StoppedOutside: "stopped_outside",
	Release:        "release",
}

// AllEvents lists every valid event (EventNone excluded) in numeric order.
func AllEvents() []Event {
	out := make([]Event, 0, len(eventNames)-1)
	for i := 1; i < len(eventNames); i++ {
		out = append(out, Event(i))
	}
	return out
}

// Valid reports whether e is a declared event other than EventNone.
func (e Event) Valid() bool { return e != EventNone && int(e) < len(eventNames) }

func (e Event) String() string {
	if int(e) >= len(eventNames) {
		return fmt.Sprintf("Event(%d)", uint8(e))
	}
	return eventNames[e]
}

// ParseEvent parses an event name as it appears in records and diagrams
// ("stop_timeout").
func ParseEvent(name string) (Event, error) {
	for i := 1; i < len(eventNames); i++ {
		if eventNames[i] == name {
			return Event(i), nil
		}
	}
	return EventNone, fmt.Errorf("%w: %q", ErrUnknownEvent, name)
}

// MarshalText implements encoding.TextMarshaler.
func (e Event) MarshalText() ([]byte, error) {
	if !e.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownEvent, uint8(e))
	}
	return []byte(e.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (e *Event) UnmarshalText(b []byte) error {
	v, err := ParseEvent(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// InFlight reports whether a VM in state s is on its way somewhere
// (Starting, Stopping, ForceStopping): the engine has an effect or a
// deadline pending for it.
func (s State) InFlight() bool {
	return s == Starting || s == Stopping || s == ForceStopping
}
