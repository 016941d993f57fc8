package api

import "time"

// Record is one transition of one VM, as the daemon's log keeps it: what
// GET /v1/events streams, one JSON object a line.
type Record struct {
	Seq   uint64 `json:"seq"`   // global sequence, strictly increasing across all VMs, from 1
	VMSeq uint64 `json:"vmSeq"` // this VM's sequence, contiguous from 1 (across delete and re-create)
	VM    string `json:"vm"`
	Event Event  `json:"event"`
	From  State  `json:"from"`
	To    State  `json:"to"`
	// Time is when the engine decided, UTC, ns precision.
	Time time.Time `json:"time"`
	// Boot is the daemon boot that wrote the record.
	Boot uint64 `json:"boot"`
	// HostAgent and VMProcess are the processes the record is about: the
	// agent and, where the agent runs the VM separately, the VM's process
	// (Lima's QEMU; its wire name "driver" is Lima's).
	HostAgent Proc `json:"hostAgent,omitzero"`
	VMProcess Proc `json:"driver,omitzero"`
	// Deadline is when the state entered must be left: the graceful
	// deadline of Stopping, the start deadline of Starting. Zero if none.
	Deadline time.Time `json:"deadline,omitzero"`
	// Cause is why the transition happened, as data: branch on its Kind.
	Cause Cause `json:"cause,omitzero"`
	// Reason is human text: why a command was given, what failed (the
	// Cause's sentence). Never parse it.
	Reason string `json:"reason,omitempty"`
	// SpecHash is the spec's SHA-256 in hex, on records that change the
	// VM's spec (create, update).
	SpecHash string `json:"specHash,omitempty"`
}

// CauseKind names why a transition happened: "requested", "agent_exit",
// "start_deadline", "graceful_deadline", "restart_policy",
// "host_rebooted", "stopped_outside", ... (the store's cause kinds, by
// name; a newer daemon may send kinds this package does not list).
type CauseKind string

// Cause is why a transition happened, with its facts; each is set only
// where the kind has it.
type Cause struct {
	Kind CauseKind `json:"kind"`
	// Code is an exiting agent's exit code, -1 when unknown.
	Code int `json:"exitCode,omitempty"`
	// Signal is the signal that ended an exiting agent, 0 for none.
	Signal int `json:"signal,omitempty"`
	// Exiting tells that the agent said "exiting" before it exited.
	Exiting bool `json:"exiting,omitempty"`
	// Deadline is the deadline that passed (start, graceful).
	Deadline time.Time `json:"deadline,omitzero"`
	// PID is the agent's pid the cause is about; VMProcessPID its VM
	// process's (Lima's QEMU).
	PID          int64 `json:"pid,omitempty"`
	VMProcessPID int64 `json:"driverPID,omitempty"`
	// Err is the error text of the driver, the OS or the store.
	Err string `json:"error,omitempty"`
	// Detail is free text: the agent's words of an exit, a caller's note,
	// the evidence of a stop from outside, or a reason recorded before
	// causes were data, kept verbatim (kind "unknown").
	Detail string `json:"detail,omitempty"`
	// The restart policy: restart N of Limit in Window, after Backoff.
	N       int           `json:"n,omitempty"`
	Limit   int           `json:"limit,omitempty"`
	Window  time.Duration `json:"window,omitempty"`
	Backoff time.Duration `json:"backoff,omitempty"`
	// Grace is the grace period a stop was requested with (stop --grace).
	Grace time.Duration `json:"grace,omitempty"`
}

// Proc names one process across daemon restarts and pid reuse: its pid,
// the time it started (in the OS's own unit), its process group and the
// machine's boot id where the OS has one. A zero PID means none.
type Proc struct {
	PID       int64  `json:"pid"`
	StartTime uint64 `json:"startTime"`
	Group     int64  `json:"group"`
	BootID    string `json:"bootID,omitempty"`
}

// IsZero reports whether p names no process.
func (p Proc) IsZero() bool { return p.PID == 0 }
