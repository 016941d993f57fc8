package store

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/states"
)

// CauseKind is why a transition happened. The numeric values are part of
// the store's encoding (record version 2): never renumber, only append,
// and add the new kind's sentence to [Cause.Render] and its words to
// causeNames.
type CauseKind uint8

// The kinds of cause. The comment names the events a kind is written with
// and the facts of [Cause] it carries.
const (
	// CauseNone: nothing to tell (spawned, running, create).
	CauseNone CauseKind = iota
	// CauseUnknown: a record of encoding version 1 whose reason is not one
	// of the sentences the engine wrote; Detail keeps it verbatim.
	CauseUnknown
	// CauseRequested: a user's command (start, stop, force stop, reset,
	// delete, update, create), and the stop a force stop ended with.
	// Detail is the note the caller gave (StopOptions.Reason), if any.
	CauseRequested
	// CauseShutdown: the daemon, shutting down, stopped the VM.
	CauseShutdown
	// CauseRestartPolicy: the restart policy scheduled a restart (backoff:
	// N of Limit in Window, after Backoff) or carried it out (restart,
	// with the backoff's facts).
	CauseRestartPolicy
	// CauseRestartLimit: the policy's limit is reached (backoff without a
	// deadline): N restarts in Window.
	CauseRestartLimit
	// CauseRestartGivenUp: a due restart found the VM's processes still
	// there, or could not look (backoff without a deadline); Err says why.
	CauseRestartGivenUp
	// CauseUpdate: a spec update restarts a Running VM to apply it (its
	// stop, then its start).
	CauseUpdate
	// CauseUpdateResumed: the start of an update's restart, carried out by
	// a later daemon after the one that stopped the VM died.
	CauseUpdateResumed
	// CauseAgentExit: the agent exited (start_failed while starting,
	// crashed while running, exited while stopping). Code is its exit
	// code (-1 when unknown), Signal the signal that ended it (0 for
	// none or unknown), Exiting whether it said "exiting" first, Detail
	// the driver's words.
	CauseAgentExit
	// CauseAgentError: the agent reported an error while starting; Err is
	// its text.
	CauseAgentError
	// CauseSpawnFailed: the driver could not spawn the agent; Err.
	CauseSpawnFailed
	// CauseDefineFailed: the driver could not write the VM's definition;
	// Err.
	CauseDefineFailed
	// CauseSpecInvalid: the VM's spec could not be read back at start; Err.
	CauseSpecInvalid
	// CauseStartDeadline: not running by the start Deadline.
	CauseStartDeadline
	// CauseGracefulDeadline: the graceful Deadline passed with agent PID
	// still there; Err, when set, is why it could not be interrupted.
	CauseGracefulDeadline
	// CauseTerminateDeadline: agent PID outlived SIGTERM, so its tree was
	// killed (exited).
	CauseTerminateDeadline
	// CauseKillFailed: the tree survived its kill (kill_failed); Err.
	CauseKillFailed
	// CauseCleanupFailed: the cleanup after the kill failed (kill_failed);
	// Err.
	CauseCleanupFailed
	// CauseRecoveryAlive: recovery found the agent alive (adopted).
	CauseRecoveryAlive
	// CauseRecoveryGone: recovery found agent PID gone (lost; VMProcessPID
	// when its VM driver process is left, to be killed), or found a
	// stopping VM's agent gone (exited).
	CauseRecoveryGone
	// CausePIDRecycled: recovery found agent PID's number taken by another
	// process. No driver tells it apart from gone yet; the kind is
	// declared so that the encoding has it when one does.
	CausePIDRecycled
	// CauseLookupFailed: recovery could not look up agent PID; Err.
	CauseLookupFailed
	// CauseRecoveryFailed: recovery failed otherwise (its record could
	// not be written); Err.
	CauseRecoveryFailed
	// CauseForceStopResumed: recovery killed the tree of a VM the log left
	// ForceStopping.
	CauseForceStopResumed
	// CauseAppeared: a process of the VM appeared while it was stopping
	// (spawned self-loop).
	CauseAppeared
	// CauseFoundUnrecorded: the driver found the agent of a VM whose spawn
	// was never recorded (spawned self-loop), PID; or, with PID 0 and
	// VMProcessPID set, the recorded agent's VM driver process, which no
	// record named (recovery of a stopping VM whose QEMU appeared while no
	// daemon ran).
	CauseFoundUnrecorded
	// CauseNoAgent: a stop found no agent recorded or running (exited).
	CauseNoAgent
	// CauseHostRebooted: recovery found the host rebooted since the
	// record before (its boot id changed): nothing of the VM runs. Detail
	// names the two boot ids, PID the agent that went with the boot.
	CauseHostRebooted
	// CauseStoppedOutside: the VM was stopped by something other than
	// lifeline (limactl stop); Detail is the evidence.
	CauseStoppedOutside
	// CauseStartedOutside: a Stopped VM's agent was started by something
	// other than lifeline (limactl start) and adopted (adopted, Stopped →
	// Running); PID and VMProcessPID are the agent and its VM process
	// (QEMU), Detail the driver's evidence.
	CauseStartedOutside
	// CauseDeletedOutside: a Stopped VM's definition was removed by
	// something other than lifeline (limactl delete): the VM leaves the
	// live set (delete, Stopped → Absent); Detail is the evidence.
	CauseDeletedOutside
	// CauseImported: an instance someone else made (limactl create or
	// start) was taken over by `lifeline import`: its create, whose
	// Detail says where its definition came from, and, for one that
	// runs, its adopted (Stopped → Running) with PID and DriverPID, the
	// agent and its VM driver process, Detail the driver's evidence.
	CauseImported
	// CauseReleased: `lifeline release` left the VM to its driver's own
	// tools (release → Absent); nothing of it was stopped or removed.
	// PID and DriverPID are the processes left running, if any.
	CauseReleased
	// CauseAutostart: the daemon started a Stopped VM whose spec says
	// autostart, as it began (start); for one the host's reboot left
	// Broken, its reset before that start (reset).
	CauseAutostart
)

var causeNames = [...]string{
	CauseNone:              "none",
	CauseUnknown:           "unknown",
	CauseRequested:         "requested",
	CauseShutdown:          "shutdown",
	CauseRestartPolicy:     "restart_policy",
	CauseRestartLimit:      "restart_limit",
	CauseRestartGivenUp:    "restart_given_up",
	CauseUpdate:            "update",
	CauseUpdateResumed:     "update_resumed",
	CauseAgentExit:         "agent_exit",
	CauseAgentError:        "agent_error",
	CauseSpawnFailed:       "spawn_failed",
	CauseDefineFailed:      "define_failed",
	CauseSpecInvalid:       "spec_invalid",
	CauseStartDeadline:     "start_deadline",
	CauseGracefulDeadline:  "graceful_deadline",
	CauseTerminateDeadline: "terminate_deadline",
	CauseKillFailed:        "kill_failed",
	CauseCleanupFailed:     "cleanup_failed",
	CauseRecoveryAlive:     "recovery_alive",
	CauseRecoveryGone:      "recovery_gone",
	CausePIDRecycled:       "pid_recycled",
	CauseLookupFailed:      "lookup_failed",
	CauseRecoveryFailed:    "recovery_failed",
	CauseForceStopResumed:  "force_stop_resumed",
	CauseAppeared:          "appeared",
	CauseFoundUnrecorded:   "found_unrecorded",
	CauseNoAgent:           "no_agent",
	CauseHostRebooted:      "host_rebooted",
	CauseStoppedOutside:    "stopped_outside",
	CauseStartedOutside:    "started_outside",
	CauseDeletedOutside:    "deleted_outside",
	CauseImported:          "imported",
	CauseReleased:          "released",
	CauseAutostart:         "autostart",
}

// AllCauseKinds lists every declared kind, CauseNone first, in numeric
// order.
func AllCauseKinds() []CauseKind {
	out := make([]CauseKind, len(causeNames))
	for i := range causeNames {
		out[i] = CauseKind(i)
	}
	return out
}

// Valid reports whether k is a declared kind.
func (k CauseKind) Valid() bool { return int(k) < len(causeNames) }

func (k CauseKind) String() string {
	if !k.Valid() {
		return "CauseKind(" + strconv.Itoa(int(k)) + ")"
	}
	return causeNames[k]
}

// MarshalText implements encoding.TextMarshaler.
func (k CauseKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *CauseKind) UnmarshalText(b []byte) error {
	for i, n := range causeNames {
		if n == string(b) {
			*k = CauseKind(i)
			return nil
		}
	}
	return fmt.Errorf("store: unknown cause kind %q", b)
}

// Cause is why a record's transition happened, as data: its kind and the
// facts that kind carries (see each kind). Facts a kind does not carry are
// zero. [Cause.Render] is the one place its sentence is made.
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
	// process's (QEMU).
	PID          int64 `json:"pid,omitempty"`
	VMProcessPID int64 `json:"driverPID,omitempty"`
	// Err is the error text of the driver, the OS or the store.
	Err string `json:"error,omitempty"`
	// Detail is free text: the driver's words of an exit, a caller's
	// note, the evidence of a stop from outside, or a version-1 reason
	// kept verbatim (CauseUnknown).
	Detail string `json:"detail,omitempty"`
	// The restart policy: restart N of Limit in Window, after Backoff.
	N     int `json:"n,omitempty"`
	Limit int `json:"limit,omitempty"`
	// In JSON the durations are in milliseconds, their names say so
	// ("windowMs"); see [Cause.MarshalJSON].
	Window  time.Duration `json:"-"`
	Backoff time.Duration `json:"-"`
	// Grace is the grace period a stop was requested with (stop --grace),
	// in place of the VM's graceful timeout; 0 for none.
	Grace time.Duration `json:"-"`
}

// IsZero reports whether c tells nothing.
func (c Cause) IsZero() bool { return c == Cause{} }

// deadlineFormatV1 is how deadlines appeared in the sentences of version-1
// records (renderV1); today's sentences hold no absolute time.
const deadlineFormatV1 = "2006-01-02T15:04:05.000Z07:00"

// String renders c without the event it came with; see [Cause.Render].
func (c Cause) String() string { return c.Render(states.EventNone) }

// Render is the human sentence of c, recorded with event ev: the Reason of
// records and heads, and of the CLI's and the API's output. It is the
// only place that words a cause; the words for a kind may depend on ev
// (an agent's exit reads differently while starting, running or
// stopping). Records of encoding version 1 keep the sentence they were
// written with, which [ParseReason] maps to their cause so that the
// version-1 wording of it (renderV1) gives that sentence back. A sentence
// holds no absolute time: a deadline the cause names is in
// [Cause.Deadline], which the CLI prints in its one time format beside
// the reason (a UTC time in a sentence read next to local ones misled).
func (c Cause) Render(ev states.Event) string {
	switch c.Kind {
	case CauseNone:
		return ""
	case CauseUnknown:
		return c.Detail
	case CauseRequested:
		if c.Grace != 0 {
			what := c.Detail
			if what == "" {
				what = "stop requested"
			}
			return what + ", with a grace of " + c.Grace.String()
		}
		if c.Detail != "" {
			return c.Detail
		}
		switch ev {
		case states.Stop:
			return "stop requested"
		case states.ForceStop, states.Exited, states.KillFailed:
			return "force stop requested"
		case states.Reset:
			return "reset requested"
		case states.Delete:
			return "delete requested"
		case states.Update:
			return "spec updated"
		}
		return ""
	case CauseShutdown:
		return "daemon shutdown"
	case CauseRestartPolicy:
		s := "restart " + strconv.Itoa(c.N) + " of " + strconv.Itoa(c.Limit) + " in " + c.Window.String() + ", after " + c.Backoff.String()
		if ev == states.Backoff {
			return s
		}
		if c.Limit == 0 {
			return "restart policy"
		}
		return "restart policy: " + s
	case CauseRestartLimit:
		return "restart limit reached: " + strconv.Itoa(c.N) + " restarts in " + c.Window.String()
	case CauseRestartGivenUp:
		return "restart given up: " + c.Err
	case CauseUpdate:
		if ev == states.Stop {
			return "spec updated: restart to apply it"
		}
		return "restart to apply the updated spec"
	case CauseUpdateResumed:
		return "restart to apply the updated spec, resumed after a daemon restart"
	case CauseAgentExit:
		switch ev {
		case states.StartFailed:
			return "agent exited while starting: " + c.Detail
		case states.Crashed:
			return "agent exited unasked: " + c.Detail
		}
		return "agent exited: " + c.Detail
	case CauseAgentError:
		return "agent reported an error while starting: " + c.Err
	case CauseSpawnFailed:
		return "spawn: " + c.Err
	case CauseDefineFailed:
		return "define: " + c.Err
	case CauseSpecInvalid:
		return c.Err
	case CauseStartDeadline:
		return "start timeout: not running by the deadline"
	case CauseGracefulDeadline:
		what := "ignored the interrupt"
		if c.Err != "" {
			what = "could not be interrupted (" + c.Err + ")"
		}
		return "graceful deadline passed: agent pid " + strconv.FormatInt(c.PID, 10) + " " + what
	case CauseTerminateDeadline:
		return "agent pid " + strconv.FormatInt(c.PID, 10) + " outlived SIGTERM"
	case CauseKillFailed:
		return "kill tree: " + c.Err
	case CauseCleanupFailed:
		return "cleanup after kill: " + c.Err
	case CauseRecoveryAlive:
		return "recovery: agent alive"
	case CauseRecoveryGone:
		if ev != states.Lost {
			return "recovery: agent gone"
		}
		s := "recovery: agent pid " + strconv.FormatInt(c.PID, 10) + " is gone"
		if c.VMProcessPID != 0 {
			s += "; its VM driver pid " + strconv.FormatInt(c.VMProcessPID, 10) + " is left, to be killed"
		}
		return s
	case CausePIDRecycled:
		return "recovery: agent pid " + strconv.FormatInt(c.PID, 10) + " now belongs to another process"
	case CauseLookupFailed:
		return "recovery failed: look up agent pid " + strconv.FormatInt(c.PID, 10) + ": " + c.Err
	case CauseRecoveryFailed:
		return "recovery failed: " + c.Err
	case CauseForceStopResumed:
		return "recovery: force stop resumed"
	case CauseAppeared:
		return "a process appeared while stopping"
	case CauseFoundUnrecorded:
		if c.PID == 0 && c.VMProcessPID != 0 {
			return "recovery: VM driver pid " + strconv.FormatInt(c.VMProcessPID, 10) + " found, which no record named (its agent's was recorded)"
		}
		return "agent found without a spawn record"
	case CauseNoAgent:
		return "no agent was recorded or found"
	case CauseHostRebooted:
		s := "recovery: the host rebooted (boot id changed)"
		if c.Detail != "" {
			s = "recovery: the host rebooted (" + c.Detail + ")"
		}
		if c.PID != 0 {
			s += "; agent pid " + strconv.FormatInt(c.PID, 10) + " went with it"
		}
		return s
	case CauseStoppedOutside:
		return "stopped from outside lifeline: " + c.Detail
	case CauseStartedOutside:
		s := "started from outside lifeline, adopted: agent pid " + strconv.FormatInt(c.PID, 10)
		if c.VMProcessPID != 0 {
			s += ", VM driver pid " + strconv.FormatInt(c.VMProcessPID, 10)
		}
		if c.Detail != "" {
			s += "; " + c.Detail
		}
		return s
	case CauseDeletedOutside:
		return "deleted from outside lifeline: " + c.Detail
	case CauseImported:
		s := "imported"
		if c.PID != 0 {
			s += ", running: agent pid " + strconv.FormatInt(c.PID, 10)
			if c.VMProcessPID != 0 {
				s += ", VM driver pid " + strconv.FormatInt(c.VMProcessPID, 10)
			}
		}
		if c.Detail != "" {
			s += "; " + c.Detail
		}
		return s
	case CauseReleased:
		s := "released: left to Lima as it is, nothing stopped or removed"
		if c.PID != 0 {
			s += "; agent pid " + strconv.FormatInt(c.PID, 10) + " left running"
			if c.VMProcessPID != 0 {
				s += ", VM driver pid " + strconv.FormatInt(c.VMProcessPID, 10)
			}
		}
		return s
	case CauseAutostart:
		if ev == states.Reset {
			return "autostart: the host rebooted under it; reset to start again"
		}
		return "autostart: the daemon started"
	}
	return c.Kind.String()
}

// renderV1 is [Cause.Render] as it was when records of encoding version 1
// were written (their reasons are sentences), frozen: [ParseReason] maps a
// version-1 sentence to a cause only if renderV1 of that cause gives the
// sentence back, so that every sentence an old file holds keeps meaning
// what it meant, whatever Render says today. It is used for nothing else
// but the check of a caller's Reason in [checkWrite] (a record copied
// from an earlier build's output, such as a fleet stream). Never edit it.
//
// Its deadlines are absolute UTC times in deadlineFormatV1; Render's
// sentences hold no absolute time (the CLI shows the deadline, in its one
// time format, beside the reason).
func (c Cause) renderV1(ev states.Event) string {
	switch c.Kind {
	case CauseNone:
		return ""
	case CauseUnknown:
		return c.Detail
	case CauseRequested:
		if c.Grace != 0 {
			what := c.Detail
			if what == "" {
				what = "stop requested"
			}
			return what + ", with a grace of " + c.Grace.String()
		}
		if c.Detail != "" {
			return c.Detail
		}
		switch ev {
		case states.Stop:
			return "stop requested"
		case states.ForceStop, states.Exited, states.KillFailed:
			return "force stop requested"
		case states.Reset:
			return "reset requested"
		case states.Delete:
			return "delete requested"
		case states.Update:
			return "spec updated"
		}
		return ""
	case CauseShutdown:
		return "daemon shutdown"
	case CauseRestartPolicy:
		s := "restart " + strconv.Itoa(c.N) + " of " + strconv.Itoa(c.Limit) + " in " + c.Window.String() + ", after " + c.Backoff.String()
		if ev == states.Backoff {
			return s
		}
		if c.Limit == 0 {
			return "restart policy"
		}
		return "restart policy: " + s
	case CauseRestartLimit:
		return "restart limit reached: " + strconv.Itoa(c.N) + " restarts in " + c.Window.String()
	case CauseRestartGivenUp:
		return "restart given up: " + c.Err
	case CauseUpdate:
		if ev == states.Stop {
			return "spec updated: restart to apply it"
		}
		return "restart to apply the updated spec"
	case CauseUpdateResumed:
		return "restart to apply the updated spec, resumed after a daemon restart"
	case CauseAgentExit:
		switch ev {
		case states.StartFailed:
			return "agent exited while starting: " + c.Detail
		case states.Crashed:
			return "agent exited unasked: " + c.Detail
		}
		return "agent exited: " + c.Detail
	case CauseAgentError:
		return "agent reported an error while starting: " + c.Err
	case CauseSpawnFailed:
		return "spawn: " + c.Err
	case CauseDefineFailed:
		return "define: " + c.Err
	case CauseSpecInvalid:
		return c.Err
	case CauseStartDeadline:
		return "start timeout: not running by the deadline " + c.Deadline.Format(deadlineFormatV1)
	case CauseGracefulDeadline:
		what := "ignored the interrupt"
		if c.Err != "" {
			what = "could not be interrupted (" + c.Err + ")"
		}
		return "graceful deadline " + c.Deadline.Format(deadlineFormatV1) + " passed: agent pid " + strconv.FormatInt(c.PID, 10) + " " + what
	case CauseTerminateDeadline:
		return "agent pid " + strconv.FormatInt(c.PID, 10) + " outlived SIGTERM"
	case CauseKillFailed:
		return "kill tree: " + c.Err
	case CauseCleanupFailed:
		return "cleanup after kill: " + c.Err
	case CauseRecoveryAlive:
		return "recovery: agent alive"
	case CauseRecoveryGone:
		if ev != states.Lost {
			return "recovery: agent gone"
		}
		s := "recovery: agent pid " + strconv.FormatInt(c.PID, 10) + " is gone"
		if c.VMProcessPID != 0 {
			s += "; its VM driver pid " + strconv.FormatInt(c.VMProcessPID, 10) + " is left, to be killed"
		}
		return s
	case CausePIDRecycled:
		return "recovery: agent pid " + strconv.FormatInt(c.PID, 10) + " now belongs to another process"
	case CauseLookupFailed:
		return "recovery failed: look up agent pid " + strconv.FormatInt(c.PID, 10) + ": " + c.Err
	case CauseRecoveryFailed:
		return "recovery failed: " + c.Err
	case CauseForceStopResumed:
		return "recovery: force stop resumed"
	case CauseAppeared:
		return "a process appeared while stopping"
	case CauseFoundUnrecorded:
		return "agent found without a spawn record"
	case CauseNoAgent:
		return "no agent was recorded or found"
	case CauseHostRebooted:
		s := "recovery: the host rebooted (boot id changed)"
		if c.Detail != "" {
			s = "recovery: the host rebooted (" + c.Detail + ")"
		}
		if c.PID != 0 {
			s += "; agent pid " + strconv.FormatInt(c.PID, 10) + " went with it"
		}
		return s
	case CauseStoppedOutside:
		return "stopped from outside lifeline: " + c.Detail
	case CauseStartedOutside:
		s := "started from outside lifeline, adopted: agent pid " + strconv.FormatInt(c.PID, 10)
		if c.VMProcessPID != 0 {
			s += ", VM driver pid " + strconv.FormatInt(c.VMProcessPID, 10)
		}
		if c.Detail != "" {
			s += "; " + c.Detail
		}
		return s
	case CauseDeletedOutside:
		return "deleted from outside lifeline: " + c.Detail
	case CauseImported:
		s := "imported"
		if c.PID != 0 {
			s += ", running: agent pid " + strconv.FormatInt(c.PID, 10)
			if c.VMProcessPID != 0 {
				s += ", VM driver pid " + strconv.FormatInt(c.VMProcessPID, 10)
			}
		}
		if c.Detail != "" {
			s += "; " + c.Detail
		}
		return s
	case CauseReleased:
		s := "released: left to Lima as it is, nothing stopped or removed"
		if c.PID != 0 {
			s += "; agent pid " + strconv.FormatInt(c.PID, 10) + " left running"
			if c.VMProcessPID != 0 {
				s += ", VM driver pid " + strconv.FormatInt(c.VMProcessPID, 10)
			}
		}
		return s
	case CauseAutostart:
		if ev == states.Reset {
			return "autostart: the host rebooted under it; reset to start again"
		}
		return "autostart: the daemon started"
	}
	return c.Kind.String()
}

// ParseReason maps a reason sentence of a record of encoding version 1,
// written with event ev, to its cause. It is the one place where the
// engine's old sentences are read. A sentence it does not know, or one
// whose cause would not render back to exactly it with the version-1
// wording (renderV1, frozen: today's Render may word it otherwise), is
// kept verbatim as
// CauseUnknown: nothing is reinterpreted. Facts the old sentence did not
// hold are unknown (an agent exit's Code is -1).
func ParseReason(ev states.Event, text string) Cause {
	c := parseReason(ev, text)
	var ok bool
	if c.Deadline, ok = normTime(c.Deadline); !ok || c.renderV1(ev) != text {
		return Cause{Kind: CauseUnknown, Detail: text}
	}
	return c
}

func parseReason(ev states.Event, s string) Cause {
	pid := func(s string) (int64, bool) {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n >= 0
	}
	deadline := func(s string) (time.Time, bool) {
		t, err := time.Parse(deadlineFormatV1, s)
		return t, err == nil
	}
	if s == "" {
		switch ev {
		case states.Create, states.Start:
			return Cause{Kind: CauseRequested}
		}
		return Cause{}
	}
	switch ev {
	case states.Stop, states.ForceStop:
		switch s {
		case "daemon shutdown":
			return Cause{Kind: CauseShutdown}
		case "spec updated: restart to apply it":
			return Cause{Kind: CauseUpdate}
		case "stop requested", "force stop requested":
			return Cause{Kind: CauseRequested}
		}
		return Cause{Kind: CauseRequested, Detail: s} // StopOptions.Reason, verbatim
	case states.Reset, states.Delete, states.Update:
		return Cause{Kind: CauseRequested}
	case states.Start:
		switch s {
		case "restart to apply the updated spec":
			return Cause{Kind: CauseUpdate}
		case "restart to apply the updated spec, resumed after a daemon restart":
			return Cause{Kind: CauseUpdateResumed}
		}
	case states.Restart:
		if s == "restart policy" {
			return Cause{Kind: CauseRestartPolicy}
		}
		if rest, ok := strings.CutPrefix(s, "restart policy: "); ok {
			if c := parseRestart(rest); c.Kind == CauseRestartPolicy {
				return c
			}
		}
	case states.Backoff:
		if rest, ok := strings.CutPrefix(s, "restart given up: "); ok {
			return Cause{Kind: CauseRestartGivenUp, Err: rest}
		}
		if rest, ok := strings.CutPrefix(s, "restart limit reached: "); ok {
			n, window, ok := strings.Cut(rest, " restarts in ")
			if k, err := strconv.Atoi(n); ok && err == nil {
				if d, err := time.ParseDuration(window); err == nil {
					return Cause{Kind: CauseRestartLimit, N: k, Window: d}
				}
			}
			break
		}
		return parseRestart(s)
	case states.StartFailed:
		for _, p := range []struct {
			prefix string
			kind   CauseKind
		}{
			{"agent exited while starting: ", CauseAgentExit},
			{"agent reported an error while starting: ", CauseAgentError},
			{"spawn: ", CauseSpawnFailed},
			{"define: ", CauseDefineFailed},
		} {
			if rest, ok := strings.CutPrefix(s, p.prefix); ok {
				if p.kind == CauseAgentExit {
					return Cause{Kind: p.kind, Code: -1, Detail: rest}
				}
				return Cause{Kind: p.kind, Err: rest}
			}
		}
		if rest, ok := strings.CutPrefix(s, "start timeout: not running by the deadline "); ok {
			if t, ok := deadline(rest); ok {
				return Cause{Kind: CauseStartDeadline, Deadline: t}
			}
			break
		}
		if strings.HasPrefix(s, "vm ") && strings.Contains(s, ": load spec: ") {
			// v.specErr's text, verbatim: a spec that did not decode.
			return Cause{Kind: CauseSpecInvalid, Err: s}
		}
	case states.Crashed:
		if rest, ok := strings.CutPrefix(s, "agent exited unasked: "); ok {
			return Cause{Kind: CauseAgentExit, Code: -1, Detail: rest}
		}
	case states.StopTimeout:
		rest, ok := strings.CutPrefix(s, "graceful deadline ")
		if !ok {
			break
		}
		at, rest, ok := strings.Cut(rest, " passed: agent pid ")
		t, ok2 := deadline(at)
		if !ok || !ok2 {
			break
		}
		n, what, ok := strings.Cut(rest, " ")
		p, ok2 := pid(n)
		if !ok || !ok2 {
			break
		}
		c := Cause{Kind: CauseGracefulDeadline, Deadline: t, PID: p}
		if e, ok := strings.CutPrefix(what, "could not be interrupted ("); ok && strings.HasSuffix(e, ")") {
			c.Err = strings.TrimSuffix(e, ")")
		}
		return c
	case states.Exited:
		switch s {
		case "recovery: agent gone":
			return Cause{Kind: CauseRecoveryGone}
		case "recovery: force stop resumed":
			return Cause{Kind: CauseForceStopResumed}
		case "no agent was recorded or found":
			return Cause{Kind: CauseNoAgent}
		case "force stop requested":
			return Cause{Kind: CauseRequested}
		}
		if rest, ok := strings.CutPrefix(s, "agent exited: "); ok {
			return Cause{Kind: CauseAgentExit, Code: -1, Detail: rest}
		}
		if rest, ok := strings.CutPrefix(s, "agent pid "); ok {
			if n, ok := strings.CutSuffix(rest, " outlived SIGTERM"); ok {
				if p, ok := pid(n); ok {
					return Cause{Kind: CauseTerminateDeadline, PID: p}
				}
			}
		}
		// A force stop's StopOptions.Reason is written verbatim and reads
		// as unknown: nothing in the sentence tells it from another.
	case states.KillFailed:
		if rest, ok := strings.CutPrefix(s, "kill tree: "); ok {
			return Cause{Kind: CauseKillFailed, Err: rest}
		}
		if rest, ok := strings.CutPrefix(s, "cleanup after kill: "); ok {
			return Cause{Kind: CauseCleanupFailed, Err: rest}
		}
		return parseRecoveryFailed(s)
	case states.Lost:
		if s == "recovery: agent alive" {
			break
		}
		if rest, ok := strings.CutPrefix(s, "recovery: agent pid "); ok {
			n, more, _ := strings.Cut(rest, " is gone")
			p, ok := pid(n)
			if !ok {
				break
			}
			c := Cause{Kind: CauseRecoveryGone, PID: p}
			if d, ok := strings.CutPrefix(more, "; its VM driver pid "); ok {
				if dn, ok := strings.CutSuffix(d, " is left, to be killed"); ok {
					c.VMProcessPID, _ = pid(dn)
				}
			}
			return c
		}
		return parseRecoveryFailed(s)
	case states.Adopted:
		if s == "recovery: agent alive" {
			return Cause{Kind: CauseRecoveryAlive}
		}
	case states.Spawned:
		switch s {
		case "a process appeared while stopping":
			return Cause{Kind: CauseAppeared}
		case "agent found without a spawn record":
			return Cause{Kind: CauseFoundUnrecorded}
		}
	}
	return Cause{Kind: CauseUnknown, Detail: s}
}

// parseRestart reads "restart N of L in W, after B".
func parseRestart(s string) Cause {
	rest, ok := strings.CutPrefix(s, "restart ")
	if !ok {
		return Cause{}
	}
	n, rest, ok1 := strings.Cut(rest, " of ")
	limit, rest, ok2 := strings.Cut(rest, " in ")
	window, backoff, ok3 := strings.Cut(rest, ", after ")
	if !ok1 || !ok2 || !ok3 {
		return Cause{}
	}
	c := Cause{Kind: CauseRestartPolicy}
	var err1, err2, err3, err4 error
	c.N, err1 = strconv.Atoi(n)
	c.Limit, err2 = strconv.Atoi(limit)
	c.Window, err3 = time.ParseDuration(window)
	c.Backoff, err4 = time.ParseDuration(backoff)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return Cause{}
	}
	return c
}

// parseRecoveryFailed reads markBroken's "recovery failed: ..." sentence.
func parseRecoveryFailed(s string) Cause {
	rest, ok := strings.CutPrefix(s, "recovery failed: ")
	if !ok {
		return Cause{Kind: CauseUnknown, Detail: s}
	}
	if after, ok := strings.CutPrefix(rest, "look up agent pid "); ok {
		if n, e, ok := strings.Cut(after, ": "); ok {
			if p, err := strconv.ParseInt(n, 10, 64); err == nil {
				return Cause{Kind: CauseLookupFailed, PID: p, Err: e}
			}
		}
	}
	return Cause{Kind: CauseRecoveryFailed, Err: rest}
}

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
