package replay

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// episode is a run of one VM's records: the first one (the anchor) put the
// VM in a healthy state (Running or Stopped); the others followed.
type episode struct {
	recs []store.Record
	head store.Head // the fold after the anchor
}

// Explain prints, in plain sentences, how vm came to its current state:
// the chain of records since the last time it was healthy (Running or
// Stopped), with the deadlines they set, the reasons verbatim, and the
// daemon's crashes and restarts in between. For a VM that is healthy now,
// it tells the episode that led there.
func (d *DB) Explain(w io.Writer, vm string) error {
	s, err := d.ExplainText(vm)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, s+"\n")
	return err
}

// ExplainText returns what [DB.Explain] prints, without the final newline.
func (d *DB) ExplainText(vm string) (string, error) {
	var prev, cur episode
	var h store.Head
	var loop crashLoop
	err := d.vmRecords(vm, func(r store.Record) error {
		h = h.Apply(r)
		loop.add(r)
		n := len(cur.recs)
		switch {
		case !healthy(r.To):
			cur.recs = append(cur.recs, r)
		case n > 0 && cur.recs[n-1].To == r.To && r.From == r.To:
			cur.recs = append(cur.recs, r) // adopted, update: the run goes on
		default:
			prev, cur = cur, episode{recs: []store.Record{r}, head: h}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("explain %s: %w", vm, err)
	}
	if len(cur.recs) == 0 {
		return "", fmt.Errorf("explain %s: %w", vm, ErrNoSuchVM)
	}
	boots, err := d.boots()
	if err != nil {
		boots = nil // told without the daemon's boots
	}
	e := explainer{vm: vm, loc: d.loc, boots: bootIndex(boots)}
	last := cur.recs[len(cur.recs)-1]
	story := cur
	endedHealthy := healthy(last.To) || (last.To == states.Absent && len(cur.recs) == 2)
	if endedHealthy && len(prev.recs) > 0 {
		story = episode{recs: append(prev.recs, cur.recs...), head: prev.head}
	}
	var b strings.Builder
	b.WriteString(e.header(h, last))
	if s := loop.String(&e); s != "" && h.State != states.Absent {
		b.WriteString(" " + s)
	}
	if s := e.story(story); s != "" {
		b.WriteString(" " + s)
	}
	if s := e.since(last); s != "" {
		b.WriteString(" " + s)
	}
	if h.State == states.Broken && h.Event == states.KillFailed && !h.Agent.IsZero() {
		fmt.Fprintf(&b, " The log still names agent pid %d: `lifeline stop --force %s` kills its tree again, and `lifeline reset %s` clears the VM once nothing of it runs.", h.Agent.PID, vm, vm)
	}
	return b.String(), nil
}

type explainer struct {
	vm    string
	loc   *time.Location
	boots bootIndex
}

// t prints a time of day, with milliseconds when it has a fraction.
func (e *explainer) t(t time.Time) string {
	if t.Nanosecond() == 0 {
		return clockSeconds(t, e.loc)
	}
	return clock(t, e.loc)
}

func (e *explainer) header(h store.Head, last store.Record) string {
	if h.State == states.Absent {
		return fmt.Sprintf("%s no longer exists: it was deleted at %s.", e.vm, when(last.Time, e.loc))
	}
	s := fmt.Sprintf("%s is %s since %s", e.vm, h.State, when(last.Time, e.loc))
	if !h.Agent.IsZero() && h.State != states.Broken {
		s += fmt.Sprintf(" (agent pid %d)", h.Agent.PID)
	}
	if !h.Deadline.IsZero() {
		switch h.State {
		case states.Starting:
			s += fmt.Sprintf(", with a start deadline of %s", e.t(h.Deadline))
		case states.Stopping:
			s += fmt.Sprintf(", with a graceful deadline of %s", e.t(h.Deadline))
		case states.ForceStopping:
			s += fmt.Sprintf(", its tree to be killed at %s", e.t(h.Deadline))
		case states.Broken:
			s += fmt.Sprintf(", with a restart due at %s", e.t(h.Deadline))
		}
	}
	return s + "."
}

// story tells an episode: the anchor, then each record after it.
func (e *explainer) story(ep episode) string {
	recs := ep.recs
	a := recs[0]
	if len(recs) == 1 {
		if a.Event == states.Create {
			return "It was created then."
		}
		return fmt.Sprintf("It got there by %s from %s%s.", a.Event, a.From, e.reasonSuffix(a))
	}
	var b strings.Builder
	pid := ""
	if !ep.head.Agent.IsZero() && a.To == states.Running {
		pid = fmt.Sprintf(" (agent pid %d)", ep.head.Agent.PID)
	}
	created := a.Event == states.Create
	if created {
		fmt.Fprintf(&b, "It was created at %s", e.t(a.Time))
	} else {
		fmt.Fprintf(&b, "It was %s%s from %s", a.To, pid, e.t(a.Time))
	}
	h := ep.head
	for i := 1; i < len(recs); i++ {
		p, r := recs[i-1], recs[i]
		boot := e.crossing(p, r, h)
		at := ""
		if r.Event != states.StopTimeout {
			at = fmt.Sprintf("at %s ", e.t(r.Time))
		}
		sameTime := r.Time.Sub(p.Time) < time.Millisecond
		switch {
		case i == 1 && boot == "" && sameTime:
			fmt.Fprintf(&b, ", and then %s", e.phrase(r, p, h))
		case i == 1 && boot == "" && created:
			fmt.Fprintf(&b, "; %s%s", at, e.phrase(r, p, h))
		case i == 1 && boot == "":
			fmt.Fprintf(&b, " until %s, when %s", e.t(r.Time), e.phrase(r, p, h))
		case boot != "":
			fmt.Fprintf(&b, "; %s; %s%s", boot, at, e.phrase(r, p, h))
		case sameTime:
			fmt.Fprintf(&b, "; %s", e.phrase(r, p, h))
		default:
			fmt.Fprintf(&b, "; %s%s", at, e.phrase(r, p, h))
		}
		h = h.Apply(r)
	}
	b.WriteString(".")
	return b.String()
}

// phrase tells one record r, which followed p, the VM being h before it.
func (e *explainer) phrase(r, p store.Record, h store.Head) string {
	s, _ := e.phraseOf(r, p, h)
	return s
}

// phraseOf is phrase, and whether it knew r's event and its cause's kind:
// every event and every kind is named (TestReplayCoversEveryEventAndCause).
// The words of a cause are its sentence (r.Reason, rendered by the store);
// what the explanation adds around them depends on the cause's kind, never
// on its text.
func (e *explainer) phraseOf(r, p store.Record, h store.Head) (string, bool) {
	reason, c := r.Reason, r.Cause
	known := CauseKnown(c.Kind)
	// request tells a user's command without a note of its own.
	request := c.Kind == store.CauseRequested && c.Detail == ""
	switch r.Event {
	case states.Create:
		if c.Kind == store.CauseImported {
			return "lifeline imported it: the definition someone else made (limactl create) became its spec, left as it was", known
		}
		return "it was created", known
	case states.Update:
		return "its spec was updated", known
	case states.Start:
		s := "a start was requested"
		if c.Kind == store.CauseAutostart {
			s = "the daemon started it as it began (autostart)"
		} else if !request && reason != "" {
			s += fmt.Sprintf(" (%q)", reason)
		}
		return s + e.deadline(r, "start deadline"), known
	case states.Restart:
		return "the restart policy started it again" + e.deadline(r, "start deadline"), known
	case states.Spawned:
		if p.Event == states.Spawned || !h.Agent.IsZero() {
			return fmt.Sprintf("its processes were recorded again (agent pid %d%s)", r.Agent.PID, e.driverPID(r)), known
		}
		return fmt.Sprintf("the agent was spawned (pid %d%s)", r.Agent.PID, e.driverPID(r)), known
	case states.EventRunning:
		return "the agent reported it was running", known
	case states.StartFailed:
		return "the start failed: " + reason, known
	case states.Stop:
		var s string
		switch {
		case request || (c.Kind == store.CauseNone):
			s = "a stop was requested"
		case c.Kind == store.CauseShutdown:
			s = "the daemon, shutting down, stopped it"
		default:
			s = fmt.Sprintf("a stop was requested (%q)", reason)
		}
		return s + e.deadline(r, "graceful deadline"), known
	case states.StopTimeout:
		s := fmt.Sprintf("the agent ignored the interrupt; at the deadline (%s) lifeline escalated (stop_timeout) and sent SIGTERM", e.t(r.Time))
		if !r.Deadline.IsZero() {
			s += fmt.Sprintf(", to kill the tree at %s", e.t(r.Deadline))
		}
		return s, known
	case states.ForceStop:
		s := "a force stop was requested"
		if r.From == states.Broken {
			s = "a force stop was requested to clean up what was left"
		}
		if !request && reason != "" {
			s += fmt.Sprintf(" (%q)", reason)
		}
		return s, known
	case states.Exited:
		switch {
		case c.Kind == store.CauseAgentExit:
			return fmt.Sprintf("the agent exited (%s) and lifeline cleaned up: it was Stopped", c.Detail), known
		case c.Kind == store.CauseTerminateDeadline:
			return fmt.Sprintf("the agent outlived SIGTERM, so lifeline killed the tree: it was Stopped (%q)", reason), known
		case r.From == states.ForceStopping:
			return fmt.Sprintf("lifeline killed the tree and cleaned up (%q): it was Stopped", reason), known
		}
		return fmt.Sprintf("it was Stopped (%q)", reason), known
	case states.KillFailed:
		if c.Kind == store.CauseKillFailed {
			return "the kill of the tree failed: " + c.Err, known
		}
		return "it could not be stopped: " + reason, known
	case states.Crashed:
		return "it crashed: " + reason, known
	case states.StoppedOutside:
		return fmt.Sprintf("someone other than lifeline stopped its agent, so it was Stopped and not restarted (%s)", reason), known
	case states.Adopted:
		if c.Kind == store.CauseImported {
			return fmt.Sprintf("it was running when lifeline imported it (agent pid %d%s), so lifeline adopted it: it was Running, watched as any (%s)", r.Agent.PID, e.driverPID(r), c.Detail), known
		}
		if c.Kind == store.CauseStartedOutside {
			return fmt.Sprintf("someone other than lifeline started it (agent pid %d%s), so lifeline adopted it: it was Running, watched as any (%s)", r.Agent.PID, e.driverPID(r), c.Detail), known
		}
		pid := r.Agent.PID
		if pid == 0 {
			pid = h.Agent.PID
		}
		return fmt.Sprintf("recovery found the agent (pid %d) alive and adopted it", pid), known
	case states.Lost:
		return "recovery found its agent gone: " + reason, known
	case states.Backoff:
		if r.Deadline.IsZero() {
			return "the restart policy gave up: " + reason, known
		}
		return fmt.Sprintf("the restart policy scheduled a restart at %s (%s)", e.t(r.Deadline), reason), known
	case states.Reset:
		if c.Kind == store.CauseAutostart {
			return "the daemon reset it to start it again (autostart) after the host rebooted under it", known
		}
		return "it was reset", known
	case states.Delete:
		if c.Kind == store.CauseDeletedOutside {
			return fmt.Sprintf("someone other than lifeline deleted its definition, so it was deleted and its name is free (%s)", c.Detail), known
		}
		return "it was deleted", known
	case states.Release:
		return fmt.Sprintf("it was released: lifeline forgot it and left it to Lima as it was, %s (%s)", strings.ToLower(r.From.String()), reason), known
	}
	return fmt.Sprintf("%s moved it from %s to %s%s", r.Event, r.From, r.To, e.reasonSuffix(r)), false
}

// CauseKnown tells whether the replay knows kind k: explain, check
// (replay/recheck), the report and the timeline each tell it as the kinds
// above say. A kind added to the store is added here once they do; the
// one list, so that the reader and the re-driver cannot drift apart.
func CauseKnown(k store.CauseKind) bool {
	switch k {
	case store.CauseNone, store.CauseUnknown, store.CauseRequested, store.CauseShutdown,
		store.CauseRestartPolicy, store.CauseRestartLimit, store.CauseRestartGivenUp,
		store.CauseUpdate, store.CauseUpdateResumed, store.CauseAgentExit, store.CauseAgentError,
		store.CauseSpawnFailed, store.CauseDefineFailed, store.CauseSpecInvalid,
		store.CauseStartDeadline, store.CauseGracefulDeadline, store.CauseTerminateDeadline,
		store.CauseKillFailed, store.CauseCleanupFailed, store.CauseRecoveryAlive,
		store.CauseRecoveryGone, store.CausePIDRecycled, store.CauseLookupFailed,
		store.CauseRecoveryFailed, store.CauseForceStopResumed, store.CauseAppeared,
		store.CauseFoundUnrecorded, store.CauseNoAgent, store.CauseHostRebooted,
		store.CauseStoppedOutside, store.CauseStartedOutside, store.CauseDeletedOutside,
		store.CauseImported, store.CauseReleased, store.CauseAutostart:
		return true
	}
	return false
}

func (e *explainer) deadline(r store.Record, what string) string {
	if r.Deadline.IsZero() {
		return ""
	}
	return fmt.Sprintf(", with a %s of %s", what, e.t(r.Deadline))
}

func (e *explainer) driverPID(r store.Record) string {
	if r.VMProcess.IsZero() {
		return ""
	}
	return fmt.Sprintf(", VM process pid %d", r.VMProcess.PID)
}

func (e *explainer) reasonSuffix(r store.Record) string {
	if r.Reason == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", r.Reason)
}

// crossing tells what the daemon did between records p and r of the VM
// when they were written by different boots, "" when by the same one. h is
// the VM after p.
func (e *explainer) crossing(p, r store.Record, h store.Head) string {
	if r.Boot == p.Boot || len(e.boots) == 0 {
		return ""
	}
	s := e.bootsBetween(p.Boot, r.Boot)
	switch {
	case h.State == states.Stopping && r.Event != states.Exited:
		s += ", whose recovery found the agent alive, interrupted it again and kept the recorded graceful deadline"
	case h.State == states.Starting && r.Event != states.Lost && r.Event != states.Adopted:
		s += ", whose recovery kept waiting for it to run, until the recorded start deadline"
	case h.State == states.ForceStopping && r.Event != states.Exited:
		s += ", whose recovery killed the tree again"
	}
	return s
}

// bootsBetween tells how the daemon went from boot a to boot b.
func (e *explainer) bootsBetween(a, b uint64) string {
	var parts []string
	for n := a; n < b; n++ {
		cur, ok1 := e.boots.get(n)
		next, ok2 := e.boots.get(n + 1)
		if !ok1 || !ok2 {
			parts = append(parts, fmt.Sprintf("the daemon restarted (boot %d to boot %d)", n, n+1))
			continue
		}
		var p string
		switch {
		case cur.Closed.IsZero():
			p = fmt.Sprintf("the daemon crashed (boot %d, pid %d, never closed) and came back as boot %d at %s", n, cur.PID, n+1, e.t(next.Started))
		case cur.Detached:
			p = fmt.Sprintf("the daemon detached at %s, leaving its VMs running, and came back as boot %d at %s", e.t(cur.Closed), n+1, e.t(next.Started))
		default:
			p = fmt.Sprintf("the daemon stopped cleanly at %s and came back as boot %d at %s", e.t(cur.Closed), n+1, e.t(next.Started))
		}
		if next.HostRebooted(cur) {
			p += ", after the " + hostRebooted(cur, next)
		}
		parts = append(parts, p)
	}
	return "then " + strings.Join(parts, "; then ")
}

// since tells what the daemon did after the VM's last record.
func (e *explainer) since(last store.Record) string {
	if len(e.boots) == 0 || e.boots.last() <= last.Boot {
		return ""
	}
	s := "Since then " + strings.TrimPrefix(e.bootsBetween(last.Boot, e.boots.last()), "then ")
	switch last.To {
	case states.Broken:
		s += "; recovery leaves a Broken VM as it is"
	case states.Stopped, states.Absent:
	default:
		s += fmt.Sprintf("; no later boot recorded anything for %s", e.vm)
	}
	return s + "."
}

// crashLoop follows a VM's restarts by the restart policy since a user
// last started, reset or created it.
type crashLoop struct {
	crashes  int
	first    time.Time // the first crash
	backoffs []time.Duration
	restarts int
}

func (l *crashLoop) add(r store.Record) {
	switch r.Event {
	case states.Create, states.Start, states.Reset:
		*l = crashLoop{}
	case states.Crashed:
		if l.crashes == 0 {
			l.first = r.Time
		}
		l.crashes++
	case states.Backoff:
		if !r.Deadline.IsZero() {
			l.backoffs = append(l.backoffs, r.Deadline.Sub(r.Time))
		}
	case states.Restart:
		l.restarts++
	}
}

// String tells the loop in a sentence, "" when the policy never restarted
// the VM.
func (l *crashLoop) String(e *explainer) string {
	if l.restarts == 0 {
		return ""
	}
	waits := make([]string, len(l.backoffs))
	for i, d := range l.backoffs {
		waits[i] = dur(d)
	}
	return fmt.Sprintf("Its agent crashed %d times since %s; the restart policy restarted it %d times (after waiting %s).",
		l.crashes, e.t(l.first), l.restarts, strings.Join(waits, ", "))
}
