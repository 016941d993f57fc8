package api

import (
	"encoding/json"
	"math"
	"time"
)

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
	N     int `json:"n,omitempty"`
	Limit int `json:"limit,omitempty"`
	// In JSON the durations are in milliseconds, their names say so
	// ("windowMs"); see [Cause.MarshalJSON].
	Window  time.Duration `json:"-"`
	Backoff time.Duration `json:"-"`
	// Grace is the grace period a stop was requested with (stop --grace).
	Grace time.Duration `json:"-"`
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

// causeFields is Cause without its methods, for its JSON.
type causeFields Cause

// causeJSON is a cause's JSON: its fields, and its durations in
// milliseconds under names that say so.
type causeJSON struct {
	*causeFields
	WindowMs  float64 `json:"windowMs,omitempty"`
	BackoffMs float64 `json:"backoffMs,omitempty"`
	GraceMs   float64 `json:"graceMs,omitempty"`
}

// MarshalJSON writes c with its durations in milliseconds ("windowMs",
// "backoffMs", "graceMs"; fractions down to the nanosecond): a duration's
// JSON name carries its unit.
func (c Cause) MarshalJSON() ([]byte, error) {
	return json.Marshal(causeJSON{causeFields: (*causeFields)(&c), WindowMs: millis(c.Window), BackoffMs: millis(c.Backoff), GraceMs: millis(c.Grace)})
}

// UnmarshalJSON reads a cause as MarshalJSON writes it, and as earlier
// versions wrote it: the durations in nanoseconds under bare names
// ("window", "backoff", "grace"), which a fleet stream or a saved export
// may still hold.
func (c *Cause) UnmarshalJSON(b []byte) error {
	var v struct {
		causeJSON
		Window  *time.Duration `json:"window"`
		Backoff *time.Duration `json:"backoff"`
		Grace   *time.Duration `json:"grace"`
	}
	*c = Cause{}
	v.causeFields = (*causeFields)(c)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	for _, d := range []struct {
		ms   float64
		ns   *time.Duration
		into *time.Duration
	}{{v.WindowMs, v.Window, &c.Window}, {v.BackoffMs, v.Backoff, &c.Backoff}, {v.GraceMs, v.Grace, &c.Grace}} {
		switch {
		case d.ms != 0:
			*d.into = time.Duration(math.Round(d.ms * float64(time.Millisecond)))
		case d.ns != nil:
			*d.into = *d.ns
		}
	}
	return nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
