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
	// Reason is human text: why a command was given, what failed. Never
	// parse it.
	Reason string `json:"reason,omitempty"`
	// SpecHash is the spec's SHA-256 in hex, on records that change the
	// VM's spec (create, update).
	SpecHash string `json:"specHash,omitempty"`
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
