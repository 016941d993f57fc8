package api

import (
	"time"
)

// VM is a VM's status.
type VM struct {
	Name  string    `json:"name"`
	State State     `json:"state"`
	Seq   uint64    `json:"seq"`   // global sequence of the VM's last record
	VMSeq uint64    `json:"vmSeq"` // the VM's own sequence of it
	Since time.Time `json:"since"` // when the VM entered its state
	Event Event     `json:"event"` // the event of the last record
	// Cause is why the last transition happened, as data.
	Cause Cause `json:"cause,omitzero"`
	// Reason is human text: why the last transition happened.
	Reason string `json:"reason"`
	// HostAgentPID is the agent's pid (Lima's host agent), 0 if none.
	HostAgentPID int64 `json:"hostAgentPID"`
	// VMProcessPID is the pid of the process that runs the VM where the
	// agent runs it separately (Lima's QEMU), 0 if none. Its wire name is
	// Lima's ("driverPID").
	VMProcessPID int64     `json:"driverPID"`
	Deadline     time.Time `json:"deadline,omitzero"`
	Ready        string    `json:"ready,omitempty"`
	// Driver is the driver that runs the VM ("lima", "command"); empty
	// for a VM created before VMs named their driver (Lima).
	Driver string   `json:"driver,omitempty"`
	Env    []string `json:"env,omitempty"` // KEY=VALUE, sorted
	// Autostart: the daemon starts the VM whenever it starts.
	Autostart bool `json:"autostart,omitempty"`
	// Unrecorded, when set, says what happened to the VM that the log
	// could not record yet (a full or read-only disk), why, and when the
	// daemon tries again: State is behind the truth until then.
	Unrecorded string `json:"unrecorded,omitempty"`
	// Degraded: the VM's agent reported, while the VM runs, that it runs
	// only partly (Lima's "degraded": file sharing or port forwarding may
	// not work); AgentError holds its words and AgentErrorAt when. Not a
	// transition, so not in the log: it lasts until the VM leaves Running.
	Degraded     bool      `json:"degraded,omitempty"`
	AgentError   string    `json:"agentError,omitempty"`
	AgentErrorAt time.Time `json:"agentErrorAt,omitzero"`
	// InstanceDir is where the VM's driver keeps its files (Lima: the
	// instance directory under the daemon's LIMA_HOME; command: its run
	// directory in the data dir), and AgentLogs the agent's log files
	// there, its own log first; GET /v1/vms/{name} only, empty when the
	// driver does not say.
	InstanceDir string   `json:"instanceDir,omitempty"`
	AgentLogs   []string `json:"agentLogs,omitempty"`
}

// Spec is what to run for a VM. The daemon checks every field before it
// records anything.
type Spec struct {
	// Driver names the driver that runs the VM: "lima" or "command".
	// Empty: the daemon's default ("lima"). An update keeps the VM's
	// driver; naming another one is refused.
	Driver string `json:"driver,omitempty"`
	// Template is the VM's definition (a Lima template, YAML), opaque to
	// the engine; for the lima driver only. Empty: the daemon's default,
	// if it has one.
	Template []byte `json:"template,omitempty"`
	// Command is the agent's program and arguments (argv), for the
	// command driver only.
	Command []string `json:"command,omitempty"`
	// Env is added to the agent's environment.
	Env map[string]string `json:"env,omitempty"`
	// Ready selects when the VM counts as Running: "guest" (the agent's
	// "running" event, the default) or "agent" (the agent answers on its
	// socket).
	Ready string `json:"ready,omitempty"`
	// Restart is the restart policy: "no" (or empty) or "on-failure"
	// (restart after a crash, with backoff and a limit).
	Restart string `json:"restart,omitempty"`
	// GracefulTimeout is how long a graceful stop waits for the VM's agent
	// to exit before it is forced (nanoseconds on the wire); 0 for the
	// daemon's default. Between 1s and 1h.
	GracefulTimeout time.Duration `json:"gracefulTimeout,omitempty"`
	// Autostart: the daemon starts the VM whenever it starts (at login or
	// boot, with contrib's units), if it is Stopped then.
	Autostart bool `json:"autostart,omitempty"`
}

// The values of [Spec.Ready] and [Spec.Restart].
const (
	ReadyGuest       = "guest"
	ReadyAgent       = "agent"
	RestartNo        = "no"
	RestartOnFailure = "on-failure"
)

// CreateRequest creates a VM.
type CreateRequest struct {
	Name string `json:"name"`
	Spec Spec   `json:"spec"`
}

// UpdateRequest replaces a VM's spec.
type UpdateRequest struct {
	Spec Spec `json:"spec"`
}

// ImportRequest takes over VMs someone else made with the driver's own
// tools (Lima instances `limactl create` made under the daemon's
// LIMA_HOME): Names, or with All every one the daemon does not run yet.
// Spec's Ready, Restart, GracefulTimeout and Autostart complete the spec
// read from each instance; its other fields must be empty.
type ImportRequest struct {
	Names []string `json:"names,omitempty"`
	All   bool     `json:"all,omitempty"`
	Spec  Spec     `json:"spec"`
}

// ImportResponse says, per VM, what an import did: Result (State Running
// for an instance that ran and was adopted, Stopped otherwise) or Error.
type ImportResponse struct {
	Results []ImportResult `json:"results"`
}

// ImportResult is one VM's outcome of an import.
type ImportResult struct {
	Name  string     `json:"name"`
	Seq   uint64     `json:"seq,omitempty"`
	State State      `json:"state,omitempty"`
	Error *ErrorBody `json:"error,omitempty"`
}

// StopRequest stops a VM: gracefully (interrupt, then force at the
// graceful deadline), or with Force at once.
type StopRequest struct {
	Force bool `json:"force"`
	// Grace, when set, replaces the VM's graceful timeout for this stop
	// only (nanoseconds on the wire). Between 1s and 1h; not with Force.
	Grace time.Duration `json:"grace,omitempty"`
}

// Result is what a command wrote: the record's global sequence (wait
// since it to see what follows) and the VM's state after it.
type Result struct {
	Name  string `json:"name"`
	Seq   uint64 `json:"seq"`
	State State  `json:"state"`
}

// Info describes the daemon.
type Info struct {
	PID     int    `json:"pid"`
	Boot    uint64 `json:"boot"`
	DataDir string `json:"dataDir"`
	DB      string `json:"db"`
	Version string `json:"version"`
}
