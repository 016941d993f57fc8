package api

// State is where a VM is in its lifecycle, by its wire name ("Running").
// The daemon's transition table (package states) is the one definition;
// these are its names, kept equal by a test of package server.
type State string

// The states.
const (
	// Absent is before a VM's create record and after its delete record;
	// a wait for Absent waits for the delete.
	Absent        State = "Absent"
	Stopped       State = "Stopped"
	Starting      State = "Starting"
	Running       State = "Running"
	Stopping      State = "Stopping"
	ForceStopping State = "ForceStopping"
	Broken        State = "Broken"
)

// States lists every state, Absent first, in the table's order.
func States() []State {
	return []State{Absent, Stopped, Starting, Running, Stopping, ForceStopping, Broken}
}

// InFlight reports whether a VM in state s is on its way somewhere
// (Starting, Stopping, ForceStopping): the daemon has an effect or a
// deadline pending for it, and a later record will move it.
func (s State) InFlight() bool {
	return s == Starting || s == Stopping || s == ForceStopping
}

// Event is what moved a VM from one state to another, by its wire name
// ("stop_timeout").
type Event string

// The events.
const (
	EventCreate         Event = "create"          // user: the VM is defined (Absent → Stopped)
	EventStart          Event = "start"           // user or restart policy: spawn the agent
	EventSpawned        Event = "spawned"         // driver: the agent's process exists; its identity is recorded
	EventRunning        Event = "running"         // driver: the agent reported it is up
	EventStartFailed    Event = "start_failed"    // driver or timer: spawn failed, agent exited or errored, start deadline passed
	EventStop           Event = "stop"            // user, daemon shutdown, spec change: ask the agent to stop
	EventStopTimeout    Event = "stop_timeout"    // timer: the graceful deadline passed
	EventForceStop      Event = "force_stop"      // user (force): kill without waiting
	EventExited         Event = "exited"          // driver: the whole tree is gone and cleanup is done
	EventKillFailed     Event = "kill_failed"     // driver: the tree survived the kill, or cleanup failed
	EventCrashed        Event = "crashed"         // driver: the agent exited unasked
	EventAdopted        Event = "adopted"         // recovery: a live agent whose identity matches the log
	EventLost           Event = "lost"            // recovery: the agent is gone
	EventReset          Event = "reset"           // user: a Broken VM is cleaned up and Stopped again
	EventDelete         Event = "delete"          // user: the VM leaves the live set (tombstone)
	EventUpdate         Event = "update"          // user: a new spec; it applies at the next start
	EventBackoff        Event = "backoff"         // restart policy: a restart is due at the deadline, or (no deadline) the limit is reached
	EventRestart        Event = "restart"         // restart policy: the backoff passed; start again
	EventStoppedOutside Event = "stopped_outside" // driver: someone else stopped the agent (limactl stop); no failure
	EventRelease        Event = "release"         // user: lifeline forgets the VM and leaves it to Lima, running or not
)

// Events lists every event in the table's order.
func Events() []Event {
	return []Event{
		EventCreate, EventStart, EventSpawned, EventRunning, EventStartFailed,
		EventStop, EventStopTimeout, EventForceStop, EventExited, EventKillFailed,
		EventCrashed, EventAdopted, EventLost, EventReset, EventDelete,
		EventUpdate, EventBackoff, EventRestart, EventStoppedOutside, EventRelease,
	}
}
