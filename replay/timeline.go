package replay

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/lifeline-vm/lifeline/replay/internal/text"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// TimelineOptions select what [DB.Timeline] prints. The zero value prints
// everything, as text.
type TimelineOptions struct {
	// VMs, when not empty, keeps only these VMs' records (boots are still
	// shown).
	VMs []string
	// SinceSeq and UntilSeq bound the records by global sequence,
	// inclusive; 0 is unbounded.
	SinceSeq, UntilSeq uint64
	// Since and Until bound the records by time, inclusive; the zero time
	// is unbounded.
	Since, Until time.Time
	// JSON prints one JSON object per line instead of text.
	JSON bool
}

// errStop ends a scan early without an error.
var errStop = errors.New("stop")

// Timeline prints every record in global order, with the daemon's boots
// as separators: a boot that never closed, followed by a later boot, is a
// daemon crash. Each record shows how long after the VM's previous
// transition it came, and the deadline it set. It streams: only one small
// entry per VM and per boot is kept in memory.
//
// With SinceSeq the scan starts there, and the first record of each VM has
// no duration (its previous transition was not read).
//
// A boot's separator names the daemon's version and host, and says when
// the host rebooted since the boot before (its boot id changed); a boot
// closed with the detach mark left its VMs running (--detach-on-exit).
// Boots recorded before boot encoding version 2 show none of these.
//
// JSON lines have a "kind": "boot" (a boot started; "version", "hostName",
// "hostBootId" and "hostRebooted" when known), "bootEnd" (it closed
// cleanly; "detached" when it left its VMs running), "crash" (it never
// closed and a later boot followed),
// "bootOpen" (the last boot, not closed: running or crashed), or "record"
// (the fields of store.Record, plus "sincePrevious" in nanoseconds when
// known).
func (d *DB) Timeline(w io.Writer, o TimelineOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	boots, bootErr := d.boots()
	tl := &timeliner{w: bw, o: o, loc: d.loc, boots: bootIndex(boots), last: make(map[string]time.Time)}
	if len(o.VMs) > 0 {
		tl.only = make(map[string]bool, len(o.VMs))
		for _, vm := range o.VMs {
			if _, ok, err := d.st.Head(vm); err == nil && !ok {
				return fmt.Errorf("timeline: vm %q: %w", vm, ErrNoSuchVM)
			}
			tl.only[vm] = true
		}
	}
	if bootErr != nil {
		tl.note(fmt.Sprintf("boots unreadable (%v): boot separators are missing", bootErr))
		tl.boots = nil
	}
	err := d.records(max(o.SinceSeq, 1), tl.record)
	if errors.Is(err, errStop) {
		err = nil
	}
	if err == nil {
		tl.finish()
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err == nil {
		err = tl.err
	}
	return err
}

type timeliner struct {
	w     *bufio.Writer
	o     TimelineOptions
	loc   *time.Location
	boots bootIndex
	only  map[string]bool
	last  map[string]time.Time // each VM's previous transition

	cur      uint64 // the boot whose start was printed, 0 before any
	lastSeq  map[uint64]uint64
	date     string // the date last printed
	stopped  bool   // the until bound cut the scan
	err      error
	lineBuf  []byte
	jsonLine jsonRecord
}

// jsonRecord is a record line of the JSON timeline.
type jsonRecord struct {
	Kind string `json:"kind"`
	*store.Record
	// SincePreviousMs is the time since the VM's record before, in
	// milliseconds (fractions down to the nanosecond); absent for a VM's
	// first record in view.
	SincePreviousMs *float64 `json:"sincePreviousMs,omitempty"`
}

// jsonBoot is a boot line of the JSON timeline.
type jsonBoot struct {
	Kind     string    `json:"kind"`
	Boot     uint64    `json:"boot"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started,omitzero"`
	Closed   time.Time `json:"closed,omitzero"`
	LastSeq  uint64    `json:"lastSeq,omitempty"`
	NextBoot uint64    `json:"nextBoot,omitempty"`
	// Of a boot record of encoding version 2 ("boot" and "bootEnd" lines).
	Version      string `json:"version,omitempty"`
	HostName     string `json:"hostName,omitempty"`
	HostBootID   string `json:"hostBootId,omitempty"`
	HostRebooted bool   `json:"hostRebooted,omitempty"`
	Detached     bool   `json:"detached,omitempty"`
}

func (tl *timeliner) record(r store.Record) error {
	if tl.o.UntilSeq > 0 && r.Seq > tl.o.UntilSeq {
		tl.stopped = true
		return errStop
	}
	prev, seen := tl.last[r.VM]
	if tl.only == nil || tl.only[r.VM] {
		tl.last[r.VM] = r.Time
	}
	if tl.lastSeq == nil {
		tl.lastSeq = make(map[uint64]uint64)
	}
	tl.lastSeq[r.Boot] = r.Seq
	if tl.only != nil && !tl.only[r.VM] {
		return nil
	}
	if (!tl.o.Since.IsZero() && r.Time.Before(tl.o.Since)) || (!tl.o.Until.IsZero() && r.Time.After(tl.o.Until)) {
		return nil
	}
	tl.enterBoot(r.Boot)
	var since *time.Duration
	if seen {
		d := r.Time.Sub(prev)
		since = &d
	}
	if tl.o.JSON {
		tl.jsonLine = jsonRecord{Kind: "record", Record: &r}
		if since != nil {
			ms := text.Millis(*since)
			tl.jsonLine.SincePreviousMs = &ms
		}
		tl.json(&tl.jsonLine)
		return tl.err
	}
	tl.dateLine(r.Time)
	b := tl.recordLine(tl.lineBuf[:0], r, since)
	b = trimRight(b)
	b = append(b, '\n')
	tl.lineBuf = b
	tl.write(b)
	return tl.err
}

// recordLine appends the text line of record r (without its newline), since
// the VM's record before it when known. The cause is told by its sentence,
// which the store rendered.
func (tl *timeliner) recordLine(b []byte, r store.Record, since *time.Duration) []byte {
	b = fmt.Appendf(b, "%s  #%-6d %-10s %-13s %-30s", clock(r.Time, tl.loc), r.Seq, r.VM, r.Event, transition(r))
	if since != nil {
		b = fmt.Appendf(b, " %-9s", "+"+dur(*since))
	} else {
		b = fmt.Appendf(b, " %-9s", "")
	}
	if !r.Agent.IsZero() {
		b = fmt.Appendf(b, " pid %d", r.Agent.PID)
	}
	if !r.VMProcess.IsZero() {
		b = fmt.Appendf(b, " driver %d", r.VMProcess.PID)
	}
	if !r.Deadline.IsZero() {
		b = fmt.Appendf(b, " deadline %s (+%s)", clock(r.Deadline, tl.loc), dur(r.Deadline.Sub(r.Time)))
	}
	if r.Reason != "" {
		b = fmt.Appendf(b, " %q", r.Reason)
	}
	return b
}

// enterBoot prints the separators between the boot printed last and boot n.
func (tl *timeliner) enterBoot(n uint64) {
	if n == tl.cur || tl.boots == nil {
		return
	}
	if n < tl.cur {
		// Out of order (the verifier reports it): show where we are.
		tl.startBoot(n)
		tl.cur = n
		return
	}
	first := tl.cur + 1
	if tl.cur == 0 {
		first = n
		if tl.wholeLog() {
			first = 1 // the whole log: boots before the first record too
		}
	}
	for b := first; b <= n; b++ {
		if b > first || tl.cur != 0 {
			tl.endBoot(b-1, b)
		}
		tl.startBoot(b)
	}
	tl.cur = n
}

func (tl *timeliner) startBoot(n uint64) {
	b, ok := tl.boots.get(n)
	prev, _ := tl.boots.get(n - 1)
	rebooted := b.HostRebooted(prev)
	if tl.o.JSON {
		tl.json(jsonBoot{Kind: "boot", Boot: n, PID: b.PID, Started: b.Started,
			Version: b.Version, HostName: b.HostName, HostBootID: b.HostBootID, HostRebooted: rebooted})
		return
	}
	if !ok {
		tl.line(fmt.Sprintf("── boot %d (not in the boots list) ──", n))
		return
	}
	line := fmt.Sprintf("── boot %d (pid %d%s) started %s", n, b.PID, bootWho(b), when(b.Started, tl.loc))
	if rebooted {
		line += ": " + hostRebooted(prev, b)
	}
	tl.line(line + " ──")
	tl.date = b.Started.In(tl.loc).Format(time.DateOnly)
}

// bootWho is what a boot record says of the daemon and its host, as
// ", lifeline VERSION, host NAME", each part only when recorded (boot
// encoding version 2).
func bootWho(b store.Boot) string {
	var s string
	if b.Version != "" {
		s += ", lifeline " + b.Version
	}
	if b.HostName != "" {
		s += ", host " + b.HostName
	}
	return s
}

// hostRebooted says that the host rebooted between boots prev and b.
func hostRebooted(prev, b store.Boot) string {
	return fmt.Sprintf("host rebooted (boot id %s, now %s)", prev.HostBootID, b.HostBootID)
}

// endBoot prints how boot n ended, next being the boot that follows (0 if
// none).
func (tl *timeliner) endBoot(n, next uint64) {
	if n == 0 {
		return
	}
	b, ok := tl.boots.get(n)
	if !ok {
		return
	}
	last := tl.lastSeq[n]
	switch {
	case !b.Closed.IsZero():
		if tl.o.JSON {
			tl.json(jsonBoot{Kind: "bootEnd", Boot: n, PID: b.PID, Started: b.Started, Closed: b.Closed, LastSeq: last, Detached: b.Detached})
			return
		}
		if b.Detached {
			tl.line(fmt.Sprintf("── boot %d closed at %s, detached: its VMs left running for the next boot ──", n, when(b.Closed, tl.loc)))
			return
		}
		tl.line(fmt.Sprintf("── boot %d closed cleanly at %s ──", n, when(b.Closed, tl.loc)))
	case next != 0:
		if tl.o.JSON {
			tl.json(jsonBoot{Kind: "crash", Boot: n, PID: b.PID, Started: b.Started, LastSeq: last, NextBoot: next})
			return
		}
		after := "before writing any record"
		if last != 0 {
			after = fmt.Sprintf("after record #%d", last)
		}
		tl.line(fmt.Sprintf("── boot %d never closed: DAEMON CRASH (pid %d died %s) ──", n, b.PID, after))
	default:
		if tl.o.JSON {
			tl.json(jsonBoot{Kind: "bootOpen", Boot: n, PID: b.PID, Started: b.Started, LastSeq: last})
			return
		}
		tl.line(fmt.Sprintf("── boot %d still open: the daemon (pid %d) is running, or crashed after its last record ──", n, b.PID))
	}
}

// finish prints the end of the last boot shown and the boots after it.
// When an until bound cut the log, how that boot ended is out of range.
func (tl *timeliner) finish() {
	if tl.boots == nil || tl.stopped || !tl.o.Until.IsZero() {
		return
	}
	if tl.cur == 0 {
		if !tl.wholeLog() || len(tl.boots) == 0 {
			return
		}
		tl.startBoot(tl.boots[0].Number)
		tl.cur = tl.boots[0].Number
	}
	last := tl.boots.last()
	for b := tl.cur + 1; b <= last; b++ {
		tl.endBoot(b-1, b)
		tl.startBoot(b)
	}
	tl.endBoot(max(tl.cur, last), 0)
}

// wholeLog reports whether no bound or filter hides any record.
func (tl *timeliner) wholeLog() bool {
	return tl.o.SinceSeq <= 1 && tl.o.Since.IsZero() && tl.only == nil
}

func (tl *timeliner) dateLine(t time.Time) {
	if d := t.In(tl.loc).Format(time.DateOnly); d != tl.date {
		tl.date = d
		tl.line("── " + d + " ──")
	}
}

func (tl *timeliner) note(s string) {
	if tl.o.JSON {
		tl.json(map[string]string{"kind": "note", "note": s})
		return
	}
	tl.line("!! " + s)
}

func (tl *timeliner) line(s string) {
	tl.write(append([]byte(s), '\n'))
}

func (tl *timeliner) json(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		tl.err = cmpErr(tl.err, err)
		return
	}
	tl.write(append(b, '\n'))
}

func (tl *timeliner) write(b []byte) {
	if tl.err != nil {
		return
	}
	if _, err := tl.w.Write(b); err != nil {
		tl.err = err
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func trimRight(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// healthy reports whether s is a state a VM rests in without trouble.
func healthy(s states.State) bool { return s == states.Running || s == states.Stopped }

// contains reports whether vms holds vm (or vms is empty).
func contains(vms []string, vm string) bool { return len(vms) == 0 || slices.Contains(vms, vm) }
