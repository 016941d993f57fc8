// Package vmtext is how the CLI shows a VM and its times to people: the
// status verb's lines, list's table, the escalation step of a state with its deadline,
// ages and pids, in the one time format (internal/timefmt; UTC with
// --utc). It imports the standard library, api and timefmt only, so that
// lifeline's fast path (internal/cli/fastpath), which runs before most
// packages are initialised, prints `status` and `list` with the verbs'
// own code.
package vmtext

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/internal/timefmt"
)

// Times is how times are shown: in the local zone, or in UTC (--utc).
type Times struct{ UTC bool }

// Location is where times are shown: the local zone, or UTC.
func (t Times) Location() *time.Location { return timefmt.Location(t.UTC) }

// When formats x for people with its date and zone, to the second.
func (t Times) When(x time.Time) string { return timefmt.Seconds(x, t.Location()) }

// Clock formats x for people as a time of day with its zone, for lines
// about what happens now (progress, deadlines): the date only when it is
// not today.
func (t Times) Clock(x time.Time) string {
	loc := t.Location()
	y, m, d := x.In(loc).Date()
	if ny, nm, nd := time.Now().In(loc).Date(); y == ny && m == nm && d == nd {
		return timefmt.ClockSeconds(x, loc)
	}
	return timefmt.Seconds(x, loc)
}

// Status is the status verb for people: its state and for how long, the
// pending deadline as a countdown with the escalation step it brings, its
// processes, where its files are and what its agent reported.
func Status(w io.Writer, t Times, v api.VM, now time.Time) error {
	if err := status(w, t, v, now); err != nil {
		return err
	}
	return paths(w, t, v)
}

// status is the VM's state for people: "Running for 3m12s", the pending
// deadline as a countdown with the escalation step it brings.
func status(w io.Writer, t Times, v api.VM, now time.Time) error {
	fmt.Fprintf(w, "name:       %s\n", v.Name)
	fmt.Fprintf(w, "state:      %s for %s (since %s, seq %d)\n", v.State, Age(v.Since, now), t.When(v.Since), v.Seq)
	fmt.Fprintf(w, "event:      %s\n", v.Event)
	if v.Reason != "" {
		fmt.Fprintf(w, "reason:     %s%s\n", v.Reason, CauseDeadline(t, v.Cause))
	}
	if !v.Deadline.IsZero() {
		r := api.Record{VM: v.Name, To: v.State, Event: v.Event, Time: v.Since, Deadline: v.Deadline}
		fmt.Fprintf(w, "pending:    %s (deadline %s)\n", Step(t, r, now), t.When(v.Deadline))
	}
	if v.Driver != "" {
		fmt.Fprintf(w, "driver:     %s\n", v.Driver)
	}
	fmt.Fprintf(w, "host agent: %s\nvm process: %s\n", PID(v.HostAgentPID), PID(v.VMProcessPID))
	if v.Unrecorded != "" {
		fmt.Fprintf(w, "unrecorded: %s\n", v.Unrecorded)
	}
	return nil
}

// paths prints where the VM's files are and what its agent reported
// while it runs, as the daemon says (it knows its LIMA_HOME and its run
// directories; nothing here is guessed from the data dir): the instance
// directory, the agent's log files, Lima's degraded flag and errors.
func paths(w io.Writer, t Times, v api.VM) error {
	if v.InstanceDir != "" {
		fmt.Fprintf(w, "instance:   %s\n", v.InstanceDir)
	}
	if len(v.AgentLogs) > 0 {
		fmt.Fprintf(w, "agent logs: %s (`lifeline logs %s`)\n", strings.Join(v.AgentLogs, ", "), v.Name)
	}
	if v.Degraded {
		fmt.Fprintf(w, "degraded:   yes, since %s (the agent said so while Running; no transition, so not in the log)\n", t.When(v.AgentErrorAt))
	}
	if v.AgentError != "" {
		note := ""
		if !v.Degraded {
			note = fmt.Sprintf(" (at %s, while Running; no transition, so not in the log)", t.When(v.AgentErrorAt))
		}
		fmt.Fprintf(w, "agent says: %s%s\n", v.AgentError, note)
	}
	return nil
}

// List is list's table: each VM's state with its age, what is pending
// (the next escalation step and when), its processes and the last reason.
// The processes' columns are named as status names them ("host agent:",
// "vm process:"): the VM process is Lima's QEMU, whose pid Lima calls the
// driver's, not the driver ("lima", "command") status shows.
func List(w io.Writer, vms []api.VM, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tFOR\tPENDING\tHOST AGENT\tVM PROCESS\tREASON")
	for _, v := range vms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, State(v), Age(v.Since, now), Pending(v, now), PID(v.HostAgentPID), PID(v.VMProcessPID), v.Reason)
	}
	return tw.Flush()
}

// State is a VM's state for a table: "Running (degraded)" when its agent
// says it runs only partly (Lima's degraded flag: no transition, so the
// state alone does not show it), as `fleet list` shows it.
func State(v api.VM) string {
	if v.Degraded {
		return string(v.State) + " (degraded)"
	}
	return string(v.State)
}

// Pending is what comes at a VM's deadline, as a countdown: "SIGTERM in
// 22s", "SIGKILL in 3s", "give up in 9m50s"; "-" for none.
func Pending(v api.VM, now time.Time) string {
	if v.Deadline.IsZero() {
		return "-"
	}
	left := max(v.Deadline.Sub(now).Round(time.Second), 0)
	switch v.State {
	case api.Stopping:
		return "SIGTERM in " + left.String()
	case api.ForceStopping:
		return "SIGKILL in " + left.String()
	case api.Starting:
		return "give up in " + left.String()
	case api.Broken:
		return "restart in " + left.String()
	}
	return "in " + left.String()
}

// Step says what the daemon does in the state r entered and what comes at
// its deadline; with now set, as a countdown from now.
func Step(t Times, r api.Record, now time.Time) string {
	at := func(d time.Time) string {
		if now.IsZero() {
			return "at " + t.Clock(d)
		}
		left := d.Sub(now).Round(time.Second)
		if left < 0 {
			left = 0
		}
		return "in " + left.String()
	}
	ago := ""
	if !now.IsZero() {
		ago = " " + now.Sub(r.Time).Round(time.Second).String() + " ago"
	}
	switch r.To {
	case api.Stopping:
		s := "SIGINT sent" + ago
		if !r.Deadline.IsZero() {
			s += "; SIGTERM " + at(r.Deadline) + " if still running"
		}
		return s
	case api.ForceStopping:
		s := "killing the process tree" + ago
		if r.Event == api.EventStopTimeout {
			s = "graceful deadline passed: SIGTERM sent" + ago
		}
		if !r.Deadline.IsZero() {
			s += "; SIGKILL " + at(r.Deadline) + " if still running"
		}
		return s
	case api.Starting:
		s := "spawning the agent"
		if r.Event == api.EventSpawned {
			s = fmt.Sprintf("agent pid %d up%s, waiting for it to report running", r.HostAgent.PID, ago)
			if r.VMProcess.PID != 0 {
				s = fmt.Sprintf("agent pid %d and VM process pid %d up%s, waiting for the agent to report running", r.HostAgent.PID, r.VMProcess.PID, ago)
			}
		}
		if !r.Deadline.IsZero() {
			s += "; gives up " + at(r.Deadline)
		}
		return s
	case api.Broken:
		if !r.Deadline.IsZero() {
			return "restart policy: starts again " + at(r.Deadline)
		}
	}
	return r.Reason
}

// CauseDeadline is " (deadline TIME)" for a cause that names the deadline
// that passed (a reason holds no time), "" for one that names none.
func CauseDeadline(t Times, c api.Cause) string {
	if c.Deadline.IsZero() {
		return ""
	}
	return " (deadline " + t.When(c.Deadline) + ")"
}

// Age is how long ago t was, to the second ("3m12s").
func Age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return max(now.Sub(t).Round(time.Second), 0).String()
}

// PID is a pid for people: "-" for none.
func PID(p int64) string {
	if p == 0 {
		return "-"
	}
	return fmt.Sprint(p)
}
