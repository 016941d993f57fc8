package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// AtOptions say which moment [DB.At] folds the log up to: Seq when not
// zero, else Time.
type AtOptions struct {
	Seq  uint64
	Time time.Time
	JSON bool
}

// VMState is one VM as of a moment, as [DB.At] prints it in JSON.
type VMState struct {
	VM       string       `json:"vm"`
	State    states.State `json:"state"`
	Since    time.Time    `json:"since"`
	Seq      uint64       `json:"seq"`
	VMSeq    uint64       `json:"vmSeq"`
	Event    states.Event `json:"event"`
	Agent    store.Proc   `json:"hostAgent,omitzero"`
	Driver   store.Proc   `json:"driver,omitzero"`
	Deadline time.Time    `json:"deadline,omitzero"`
	Reason   string       `json:"reason,omitempty"`
}

// MarshalJSON writes v in the one JSON shape of a VM, the daemon's (the
// api package's VM, as `lifeline list` and `status -o json` print it):
// "name", "hostAgentPID", "driverPID" and the rest by the same names.
func (v VMState) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name         string       `json:"name"`
		State        states.State `json:"state"`
		Seq          uint64       `json:"seq"`
		VMSeq        uint64       `json:"vmSeq"`
		Since        time.Time    `json:"since"`
		Event        states.Event `json:"event"`
		Reason       string       `json:"reason"`
		HostAgentPID int64        `json:"hostAgentPID"`
		DriverPID    int64        `json:"driverPID"`
		Deadline     time.Time    `json:"deadline,omitzero"`
	}{v.VM, v.State, v.Seq, v.VMSeq, v.Since, v.Event, v.Reason, int64(v.Agent.PID), int64(v.Driver.PID), v.Deadline})
}

// AtResult is what [DB.At] found.
type AtResult struct {
	Seq    uint64    `json:"seq"`            // the last record folded, 0 if none
	Time   time.Time `json:"time,omitzero"`  // the moment asked for, when by time
	Boot   uint64    `json:"boot,omitempty"` // the boot that wrote the last record folded
	Daemon string    `json:"daemon"`         // what the daemon was doing then
	VMs    []VMState `json:"vms"`            // every VM created by then, deleted ones (Absent) too, by name
}

// At folds the log up to a moment, the record Seq (inclusive) or the time
// Time (every record up to the first one written after it: the log's order
// is the order things happened in, even if the clock stepped), and prints
// every VM's state then.
func (d *DB) At(w io.Writer, o AtOptions) (AtResult, error) {
	vms := make(map[string]*store.Head)
	var last store.Record
	err := d.records(1, func(r store.Record) error {
		if (o.Seq > 0 && r.Seq > o.Seq) || (o.Seq == 0 && r.Time.After(o.Time)) {
			return errStop
		}
		h := vms[r.VM]
		if h == nil {
			h = &store.Head{}
			vms[r.VM] = h
		}
		*h = h.Apply(r)
		last = r
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return AtResult{}, fmt.Errorf("at: %w", err)
	}
	res := AtResult{Seq: last.Seq, Boot: last.Boot, VMs: []VMState{}}
	if o.Seq == 0 {
		res.Time = o.Time
	}
	boots, _ := d.boots()
	res.Daemon = daemonAt(bootIndex(boots), o, last, d.loc)
	for _, name := range slices.Sorted(maps.Keys(vms)) {
		h := vms[name]
		res.VMs = append(res.VMs, VMState{VM: h.VM, State: h.State, Since: h.Since, Seq: h.Seq, VMSeq: h.VMSeq, Event: h.Event,
			Agent: h.Agent, Driver: h.VMProcess, Deadline: h.Deadline, Reason: h.Reason})
	}
	if o.JSON {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return res, err
		}
		_, err = w.Write(append(b, '\n'))
		return res, err
	}
	moment := fmt.Sprintf("record #%d", o.Seq)
	if o.Seq == 0 {
		moment = when(o.Time, d.loc)
	}
	fmt.Fprintf(w, "at %s: %d records folded (up to #%d); daemon: %s\n", moment, last.Seq, last.Seq, res.Daemon)
	if len(res.VMs) == 0 {
		_, err := fmt.Fprintln(w, "no VM existed yet")
		return res, err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tSTATE\tSINCE\tBY\tPID\tDEADLINE\tREASON")
	for _, v := range res.VMs {
		deadline := "-"
		if !v.Deadline.IsZero() {
			deadline = clock(v.Deadline, d.loc)
		}
		state := v.State.String()
		if v.State == states.Absent {
			state = "Absent (deleted)"
		}
		reason := "-"
		if v.Reason != "" {
			reason = fmt.Sprintf("%q", v.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s #%d\t%s\t%s\t%s\n", v.VM, state, when(v.Since, d.loc), v.Event, v.Seq, pidOf(v.Agent), deadline, reason)
	}
	return res, tw.Flush()
}

// daemonAt tells what the daemon was doing at the moment asked for.
func daemonAt(boots bootIndex, o AtOptions, last store.Record, loc *time.Location) string {
	if len(boots) == 0 {
		return "unknown (no boots)"
	}
	if o.Seq > 0 {
		if last.Boot == 0 {
			return "no record yet"
		}
		b, ok := boots.get(last.Boot)
		if !ok {
			return fmt.Sprintf("boot %d (not in the boots list)", last.Boot)
		}
		return describeBoot(b, boots, loc)
	}
	var cur *store.Boot
	for i := range boots {
		if !boots[i].Started.After(o.Time) {
			cur = &boots[i]
		}
	}
	if cur == nil {
		return "not started yet"
	}
	if !cur.Closed.IsZero() && cur.Closed.Before(o.Time) {
		return fmt.Sprintf("down (boot %d closed cleanly at %s)", cur.Number, when(cur.Closed, loc))
	}
	return describeBoot(*cur, boots, loc)
}

func describeBoot(b store.Boot, boots bootIndex, loc *time.Location) string {
	s := fmt.Sprintf("boot %d (pid %d, started %s)", b.Number, b.PID, when(b.Started, loc))
	switch {
	case !b.Closed.IsZero():
		s += fmt.Sprintf(", which closed cleanly at %s", when(b.Closed, loc))
	case b.Number < boots.last():
		s += ", which later crashed"
	}
	return s
}
