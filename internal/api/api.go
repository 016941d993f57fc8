// Package api is the wire format of the daemon's control socket: HTTP/1.1
// over a unix socket, JSON bodies, stable field names. The server is
// internal/daemon, the client internal/client.
//
// Routes:
//
//	GET    /v1/info                      daemon pid, boot, data dir
//	GET    /v1/vms                       []VM
//	POST   /v1/vms                       CreateRequest → Result
//	GET    /v1/vms/{name}                VM
//	DELETE /v1/vms/{name}                Result
//	POST   /v1/vms/{name}/start          Result
//	POST   /v1/vms/{name}/stop           StopRequest → Result
//	POST   /v1/vms/{name}/reset          Result
//	PUT    /v1/vms/{name}/spec           UpdateRequest → Result
//	GET    /v1/vms/{name}/wait           ?for=state=S|delete&since=SEQ&timeout=D → VM
//	GET    /v1/events                    ?since=SEQ&vm=NAME&follow=1 → JSON lines of store.Record,
//	                                     ended by a StreamError line if the daemon cut it off
//	GET    /v1/backup                    the database, consistent (application/octet-stream)
//
// Errors are an Error body with a status code: 400 invalid (a body that is
// not exactly one JSON object of the route's type, a spec field, a query
// parameter), 404 not found, 409 rejected by the VM's state (or a process
// of it still runs) or already exists, 504 timed out, 500 anything else.
package api

import (
	"slices"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
)

// SocketName is the control socket's file name in the data dir.
const SocketName = "lifeline.sock"

// VM is a VM's status. The two pid names are Lima's own.
type VM struct {
	Name         string    `json:"name"`
	State        string    `json:"state"`
	Seq          uint64    `json:"seq"`   // global sequence of the VM's last record
	VMSeq        uint64    `json:"vmSeq"` // the VM's own sequence of it
	Since        time.Time `json:"since"` // when the VM entered its state
	Event        string    `json:"event"` // the event of the last record
	Reason       string    `json:"reason"`
	HostAgentPID int64     `json:"hostAgentPID"`
	DriverPID    int64     `json:"driverPID"`
	Deadline     time.Time `json:"deadline,omitzero"`
	Ready        string    `json:"ready,omitempty"`
	Env          []string  `json:"env,omitempty"` // KEY=VALUE, sorted
	// Unrecorded, when set, says what happened to the VM that the log
	// could not record yet (a full or read-only disk), why, and when the
	// daemon tries again: State is behind the truth until then.
	Unrecorded string `json:"unrecorded,omitempty"`
}

// FromEngine converts an engine snapshot.
func FromEngine(v engine.VM) VM {
	out := VM{
		Name:         v.VM,
		State:        v.State.String(),
		Seq:          v.Seq,
		VMSeq:        v.VMSeq,
		Since:        v.Since,
		Event:        v.Event.String(),
		Reason:       v.Reason,
		HostAgentPID: v.Agent.PID,
		DriverPID:    v.Driver.PID,
		Deadline:     v.Deadline,
		Ready:        v.Spec.Ready,
		Unrecorded:   v.Unrecorded,
	}
	for k, val := range v.Spec.Env {
		out.Env = append(out.Env, k+"="+val)
	}
	slices.Sort(out.Env)
	return out
}

// CreateRequest creates a VM.
type CreateRequest struct {
	Name string       `json:"name"`
	Spec drivers.Spec `json:"spec"`
}

// UpdateRequest replaces a VM's spec.
type UpdateRequest struct {
	Spec drivers.Spec `json:"spec"`
}

// StopRequest stops a VM.
type StopRequest struct {
	Force bool `json:"force"`
}

// Result is what a command wrote: the record's global sequence (wait
// --since it to see what follows) and the VM's state after it.
type Result struct {
	Name  string `json:"name"`
	Seq   uint64 `json:"seq"`
	State string `json:"state"`
}

// Info describes the daemon.
type Info struct {
	PID     int    `json:"pid"`
	Boot    uint64 `json:"boot"`
	DataDir string `json:"dataDir"`
	DB      string `json:"db"`
	Version string `json:"version"`
}

// CodeShuttingDown: the daemon is shutting down and takes no command (503,
// exit 1).
const CodeShuttingDown = "shutting_down"

// Error codes, one per exit code class of the CLI.
const (
	CodeInvalid    = "invalid"     // bad input (exit 2)
	CodeNotFound   = "not_found"   // no such VM (exit 1)
	CodeExists     = "exists"      // create of a taken name (exit 1)
	CodeRejected   = "rejected"    // the VM's state does not allow it (exit 3)
	CodeStillAlive = "still_alive" // reset/delete while a process lives (exit 3)
	CodeTimeout    = "timeout"     // a wait ran out (exit 4)
	CodeTooSlow    = "too_slow"    // an events reader fell behind and was cut off (exit 1)
	CodeInternal   = "internal"    // anything else (exit 1)
)

// Error is an error body.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	VM      string `json:"vm,omitempty"`
	State   string `json:"state,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// StreamError is the last line of an events stream the daemon ended: why,
// and the seq to pass as since to resume without a gap. A record line has
// no "error" field.
type StreamError struct {
	Message   string `json:"error"`
	Code      string `json:"code"`
	ResumeSeq uint64 `json:"resumeSeq"`
}

func (e *StreamError) Error() string { return e.Message }
