package recheck

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// DefaultTolerance is how far a replayed record's time (or deadline) may
// be from the recorded one when [Options.Tolerance] is zero: real
// histories carry the latency of fsyncs and timers, a replay on virtual
// time none.
const DefaultTolerance = time.Second

// DefaultSettleTimeout bounds, in real time, how long the replay waits for
// the engine to finish what it does at one virtual instant.
const DefaultSettleTimeout = 30 * time.Second

// Options tune [Check].
type Options struct {
	// GracefulTimeout, StartTimeout and TerminateGrace run today's engine
	// with these timeouts. Zero: inferred from the deadlines the history
	// recorded (stop, start and stop_timeout records), else the engine's
	// defaults.
	GracefulTimeout, StartTimeout, TerminateGrace time.Duration
	// RestartBackoff, RestartBackoffMax, RestartLimit and RestartWindow
	// run the engine's restart policy with these settings. Zero: the
	// backoff is inferred (the shortest wait a backoff record shows), the
	// others are the engine's defaults.
	RestartBackoff, RestartBackoffMax time.Duration
	RestartLimit                      int
	RestartWindow                     time.Duration
	// Tolerance is how far a replayed time or deadline may be from the
	// recorded one. Default DefaultTolerance.
	Tolerance time.Duration
	// Settle, when set, returns once the engine has done everything it does
	// at the current virtual instant. The default waits until the engine's
	// engine.Activity, which the scripted driver's reports join, is idle; a
	// test inside testing/synctest can pass synctest.Wait.
	Settle func()
	// Dir is where the scratch database goes. Default: a new temporary
	// directory, removed afterwards.
	Dir string
}

// Divergence is the first place where today's engine decided differently
// from the recorded history.
type Divergence struct {
	VM    string
	VMSeq uint64 // the VM's record where the two part
	// Recorded is the history's record there, nil when the history has
	// none (today's engine wrote one more).
	Recorded *store.Record
	// Replayed is what today's engine wrote there, nil when it wrote
	// nothing (by the recorded time, plus the tolerance).
	Replayed *store.Record
	// Why says what differs.
	Why string
	// CommandErr is the error today's engine returned for the command the
	// recorded record stands for, if any.
	CommandErr string
}

// Summary is the divergence in one line.
func (d Divergence) Summary() string {
	at := fmt.Sprintf("vm %q record vmseq %d", d.VM, d.VMSeq)
	if d.Recorded != nil {
		at += fmt.Sprintf(" (#%d)", d.Recorded.Seq)
	}
	return fmt.Sprintf("first divergence at %s: %s", at, d.Why)
}

// Result sums up a [Check].
type Result struct {
	Records    int // recorded records
	Matched    int // records today's engine wrote the same way
	VMs        int
	Boots      int
	Timeouts   []string // how each timeout was chosen
	Notes      []string
	Divergence *Divergence
}

// Check re-drives the recorded history through today's engine, on virtual
// time, over the scripted driver (drivers/drivertest) and a scratch
// database, and compares, record by record for each VM, what the engine
// writes with what was recorded: event, from, to, boot, time and deadline
// (times within the tolerance). It prints its report to w and returns a
// *DivergenceError at the first divergence.
//
// Inputs are derived from the records. User commands (create, update,
// start, stop, force_stop, reset, delete) are issued at their recorded
// times, with their recorded reasons and, when the file still holds it,
// their spec. What the driver saw is scripted at its recorded time: the
// agent's pid, running, an exit (verbatim), an error while starting, a
// spawn or define failure, a tree that survives the kill or a cleanup that
// fails. An agent is scripted to ignore signals: when the history shows it
// exited, the exit is reported at that time; a stop followed by
// stop_timeout thus replays as an ignored interrupt. Timers are the
// engine's own. At each boot change the daemon is restarted: a boot that
// closed is closed (one closed with the detach mark left its VMs running,
// and so does the replay), one that never closed is crashed, and today's
// engine gets each boot's host boot id (a changed one is a host reboot),
// and what the next
// boot's recovery found (an agent alive, adopted, gone) is set up before
// it opens. A boot that crashed is cut at its last record: writes today's
// engine makes after that instant are lost, as they were (whether the
// crash came before the write, or between its commit and its caller, the
// next boot's recovery records tell what it found, and the model is set up
// to match).
func Check(d *replay.DB, w io.Writer, o Options) (Result, error) {
	h, err := loadHistory(d)
	if err != nil {
		return Result{}, fmt.Errorf("check %s: %w", d.Path(), err)
	}
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultTolerance
	}
	res := Result{Records: len(h.recs), VMs: len(h.byVM), Boots: len(h.boots)}
	eo, timeouts := h.timeouts(o)
	res.Timeouts = timeouts

	run, err := h.replay(o, eo)
	if err != nil {
		return res, fmt.Errorf("check %s: %w", d.Path(), err)
	}
	res.Matched, res.Notes, res.Divergence = run.matched, run.notes, run.div
	printCheck(w, d, res, o.Tolerance)
	if res.Divergence != nil {
		return res, &DivergenceError{Path: d.Path(), D: *res.Divergence}
	}
	return res, nil
}

// history is a database's records, boots and specs, in memory.
type history struct {
	recs  []store.Record
	byVM  map[string][]int // each VM's records, as indices into recs
	vmIdx []int            // recs[i] is its VM's vmIdx[i]-th record
	boots []store.Boot
	specs map[string][]byte
	// per boot: its records' indices in the order the replay gives them
	// (timeOrder), and how many each VM has
	inBoot   map[uint64][]int
	perVMBt  map[uint64]map[string]int
	bootLast map[uint64]time.Time // the time of each boot's last record
	loc      *time.Location       // where times print
}

func loadHistory(d *replay.DB) (*history, error) {
	h := &history{byVM: make(map[string][]int), specs: make(map[string][]byte), inBoot: make(map[uint64][]int),
		perVMBt: make(map[uint64]map[string]int), bootLast: make(map[uint64]time.Time), loc: d.Location()}
	var lastBoot uint64
	err := d.Records(1, func(r store.Record) error {
		if r.Boot < lastBoot {
			return corruptf("record #%d of boot %d follows a record of boot %d (run verify)", r.Seq, r.Boot, lastBoot)
		}
		lastBoot = r.Boot
		i := len(h.recs)
		h.recs = append(h.recs, r)
		h.vmIdx = append(h.vmIdx, len(h.byVM[r.VM]))
		h.byVM[r.VM] = append(h.byVM[r.VM], i)
		h.inBoot[r.Boot] = append(h.inBoot[r.Boot], i)
		if h.perVMBt[r.Boot] == nil {
			h.perVMBt[r.Boot] = make(map[string]int)
		}
		h.perVMBt[r.Boot][r.VM]++
		if r.Time.After(h.bootLast[r.Boot]) {
			h.bootLast[r.Boot] = r.Time
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the history does not read cleanly (run verify): %w", err)
	}
	for b, idxs := range h.inBoot {
		h.inBoot[b] = h.timeOrder(idxs)
	}
	if h.boots, err = d.Boots(); err != nil {
		return nil, fmt.Errorf("the boots do not read cleanly (run verify): %w", err)
	}
	for i, b := range h.boots {
		if b.Number != uint64(i+1) {
			return nil, corruptf("boot %d follows boot %d (run verify)", b.Number, i)
		}
	}
	if lastBoot > uint64(len(h.boots)) {
		return nil, corruptf("records of boot %d, but the last boot is %d (run verify)", lastBoot, len(h.boots))
	}
	for vm := range h.byVM {
		spec, err := d.Store().Spec(vm)
		if err == nil {
			h.specs[vm] = spec
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return h, nil
}

// timeOrder orders a boot's records (indices, in the log's order) by
// their times, each VM's in the log's order. A record's time is taken
// before it waits for the log's write lock, so under load one VM's record
// can follow another VM's later one in the log (#2154 at 44.871 after
// #2153 at 44.892); replayed in the log's order, its command would run at
// the later time, on a virtual clock that never goes back, and set a
// later deadline than the recorded daemon's. VMs do not share state in
// the engine, so only each VM's own order matters.
func (h *history) timeOrder(idxs []int) []int {
	queues := make(map[string][]int)
	var vms []string
	for _, i := range idxs {
		vm := h.recs[i].VM
		if _, ok := queues[vm]; !ok {
			vms = append(vms, vm)
		}
		queues[vm] = append(queues[vm], i)
	}
	heads := &recHeap{h: h}
	for _, vm := range vms {
		heap.Push(heads, queues[vm][0])
		queues[vm] = queues[vm][1:]
	}
	out := make([]int, 0, len(idxs))
	for heads.Len() > 0 {
		i := heap.Pop(heads).(int)
		out = append(out, i)
		if q := queues[h.recs[i].VM]; len(q) > 0 {
			heap.Push(heads, q[0])
			queues[h.recs[i].VM] = q[1:]
		}
	}
	return out
}

// recHeap is a heap of record indices, earliest time first, then lowest
// sequence.
type recHeap struct {
	h    *history
	idxs []int
}

func (q *recHeap) Len() int { return len(q.idxs) }
func (q *recHeap) Less(a, b int) bool {
	ra, rb := q.h.recs[q.idxs[a]], q.h.recs[q.idxs[b]]
	if !ra.Time.Equal(rb.Time) {
		return ra.Time.Before(rb.Time)
	}
	return ra.Seq < rb.Seq
}
func (q *recHeap) Swap(a, b int) { q.idxs[a], q.idxs[b] = q.idxs[b], q.idxs[a] }
func (q *recHeap) Push(x any)    { q.idxs = append(q.idxs, x.(int)) }
func (q *recHeap) Pop() any {
	i := q.idxs[len(q.idxs)-1]
	q.idxs = q.idxs[:len(q.idxs)-1]
	return i
}

// crashed reports whether boot n never closed and a later boot followed.
func (h *history) crashed(n uint64) bool {
	return n >= 1 && n < uint64(len(h.boots)) && h.boots[n-1].Closed.IsZero()
}

// timeouts picks the engine's timeouts: given, inferred, or defaults.
func (h *history) timeouts(o Options) (engine.Options, []string) {
	var eo engine.Options
	var notes []string
	// A VM whose spec sets its own graceful timeout, or a stop with its
	// own grace (replayed with it), says nothing of the daemon's.
	ownGrace := make(map[string]bool)
	for vm, raw := range h.specs {
		var spec drivers.Spec
		if json.Unmarshal(raw, &spec) == nil && spec.GracefulTimeout > 0 {
			ownGrace[vm] = true
		}
	}
	pick := func(name string, given time.Duration, def time.Duration, evs ...states.Event) time.Duration {
		if given > 0 {
			notes = append(notes, fmt.Sprintf("%s %s (given)", name, dur(given)))
			return given
		}
		count := make(map[time.Duration]int)
		for _, r := range h.recs {
			if slices.Contains(evs, r.Event) && !r.Deadline.IsZero() && !(r.Event == states.Stop && (ownGrace[r.VM] || r.Cause.Grace != 0)) {
				count[r.Deadline.Sub(r.Time).Round(time.Millisecond)]++
			}
		}
		if len(count) == 0 {
			notes = append(notes, fmt.Sprintf("%s %s (engine default: no record shows it)", name, dur(def)))
			return def
		}
		best, n := time.Duration(0), 0
		for _, d := range slices.Sorted(maps.Keys(count)) {
			if count[d] > n {
				best, n = d, count[d]
			}
		}
		notes = append(notes, fmt.Sprintf("%s %s (inferred from %d %s deadlines)", name, dur(best), n, evs[0]))
		return best
	}
	eo.GracefulTimeout = pick("graceful", o.GracefulTimeout, engine.DefaultGracefulTimeout, states.Stop)
	eo.StartTimeout = pick("start", o.StartTimeout, engine.DefaultStartTimeout, states.Start, states.Restart)
	eo.TerminateGrace = pick("terminate grace", o.TerminateGrace, engine.DefaultTerminateGrace, states.StopTimeout)
	eo.RestartBackoff = o.RestartBackoff
	eo.RestartBackoffMax, eo.RestartLimit, eo.RestartWindow = o.RestartBackoffMax, o.RestartLimit, o.RestartWindow
	if eo.RestartBackoff <= 0 {
		// A first restart's cause holds the base (restart 1 of 5 in 10s,
		// after 200ms). A deadline is a worse measure: a backoff written
		// late (by recovery, or retried) keeps its due time.
		for _, r := range h.recs {
			c := r.Cause
			if r.Event != states.Backoff || c.Kind != store.CauseRestartPolicy || c.N != 1 {
				continue
			}
			if d := c.Backoff; d > 0 && (eo.RestartBackoff == 0 || d < eo.RestartBackoff) {
				eo.RestartBackoff = d
			}
		}
		if eo.RestartBackoff > 0 {
			notes = append(notes, fmt.Sprintf("restart backoff %s (from a first restart's reason)", dur(eo.RestartBackoff)))
		}
	}
	if eo.RestartBackoff <= 0 {
		for _, r := range h.recs {
			if d := r.Deadline.Sub(r.Time).Round(time.Millisecond); r.Event == states.Backoff && !r.Deadline.IsZero() && (eo.RestartBackoff == 0 || d < eo.RestartBackoff) {
				eo.RestartBackoff = d
			}
		}
		if eo.RestartBackoff > 0 {
			notes = append(notes, fmt.Sprintf("restart backoff %s (the shortest backoff recorded)", dur(eo.RestartBackoff)))
		}
	}
	if o.RestartBackoffMax <= 0 && eo.RestartBackoff > 0 {
		// A backoff shorter than the doubling gives ("restart 5 of 5 ...,
		// after 2s" with a 200ms base) is the cap.
		for _, r := range h.recs {
			c := r.Cause
			if r.Event != states.Backoff || c.Kind != store.CauseRestartPolicy {
				continue
			}
			n, d := c.N, c.Backoff
			if n < 2 || n > 30 {
				continue
			}
			if want := eo.RestartBackoff << (n - 1); d < want-want/10 && (eo.RestartBackoffMax == 0 || d > eo.RestartBackoffMax) {
				eo.RestartBackoffMax = d
			}
		}
		if eo.RestartBackoffMax > 0 {
			notes = append(notes, fmt.Sprintf("restart backoff cap %s (from a backoff's reason)", dur(eo.RestartBackoffMax)))
		}
	}
	if eo.RestartLimit <= 0 || eo.RestartWindow <= 0 {
		// The policy's causes hold its limit and window: restart 1 of 5
		// in 10m0s, after 1s; restart limit reached: 5 restarts in 10m0s.
		for _, r := range h.recs {
			var limit int
			switch c := r.Cause; {
			case r.Event != states.Backoff:
				continue
			case c.Kind == store.CauseRestartPolicy:
				limit = c.Limit
			case c.Kind == store.CauseRestartLimit:
			default:
				continue
			}
			d := r.Cause.Window
			if d <= 0 {
				continue
			}
			if eo.RestartWindow <= 0 {
				eo.RestartWindow = d
				notes = append(notes, fmt.Sprintf("restart window %s (from a backoff's reason)", dur(d)))
			}
			if eo.RestartLimit <= 0 && limit > 0 {
				eo.RestartLimit = limit
				notes = append(notes, fmt.Sprintf("restart limit %d (from a backoff's reason)", limit))
			}
			if eo.RestartLimit > 0 {
				break
			}
		}
	}
	return eo, notes
}

// describe prints a record for the check's report.
func describe(r *store.Record, origin time.Time, loc *time.Location) string {
	if r == nil {
		return "nothing"
	}
	s := fmt.Sprintf("%s %s at %s (+%s), boot %d", r.Event, transition(*r), clock(r.Time, loc), dur(r.Time.Sub(origin)), r.Boot)
	if !r.Deadline.IsZero() {
		s += fmt.Sprintf(", deadline %s (+%s)", clock(r.Deadline, loc), dur(r.Deadline.Sub(r.Time)))
	}
	if !r.Agent.IsZero() {
		s += fmt.Sprintf(", pid %d", r.Agent.PID)
	}
	if r.Reason != "" {
		s += fmt.Sprintf(", %q", r.Reason)
	}
	return s
}

func printCheck(w io.Writer, d *replay.DB, res Result, tol time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "check %s: replayed %s of %s over %s through today's engine (virtual time, scripted driver)\n",
		d.Path(), plural(res.Records, "record"), plural(res.VMs, "VM"), plural(res.Boots, "boot"))
	fmt.Fprintf(&b, "timeouts: %s\n", strings.Join(res.Timeouts, ", "))
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if res.Divergence == nil {
		fmt.Fprintf(&b, "no divergence: today's engine wrote the same %s (event, states, boot; time and deadline within %s)\n", plural(res.Matched, "record"), dur(tol))
		_, _ = io.WriteString(w, b.String())
		return
	}
	dv := res.Divergence
	origin := dv.origin(d)
	fmt.Fprintf(&b, "FIRST DIVERGENCE after %d matching records: vm %q, its record vmseq %d", res.Matched, dv.VM, dv.VMSeq)
	if dv.Recorded != nil {
		fmt.Fprintf(&b, " (#%d)", dv.Recorded.Seq)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  recorded:        %s\n", describe(dv.Recorded, origin, d.Location()))
	fmt.Fprintf(&b, "  today's engine:  %s\n", describe(dv.Replayed, origin, d.Location()))
	if dv.CommandErr != "" {
		fmt.Fprintf(&b, "  command error:   %s\n", dv.CommandErr)
	}
	fmt.Fprintf(&b, "  what differs:    %s\n", dv.Why)
	_, _ = io.WriteString(w, b.String())
}

// origin is the time relative times count from: the first boot's start.
func (dv *Divergence) origin(d *replay.DB) time.Time {
	boots, err := d.Boots()
	if err != nil || len(boots) == 0 {
		return time.Time{}
	}
	return boots[0].Started
}
