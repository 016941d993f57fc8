package recheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// errDaemonGone is what the scratch store answers, in a boot that crashed,
// to a write made after the recorded daemon's last one: that daemon was
// gone by then.
var errDaemonGone = errors.New("replay: the recorded daemon had crashed by then")

// runResult is one replay of a history.
type runResult struct {
	matched int
	notes   []string
	div     *Divergence
}

// replay runs the history once through today's engine.
func (h *history) replay(o Options, eo engine.Options) (runResult, error) {
	if len(h.boots) == 0 {
		return runResult{}, nil
	}
	var dir string
	var err error
	if o.Dir == "" {
		dir, err = os.MkdirTemp("", "lifeline-check-")
		if err == nil {
			defer os.RemoveAll(dir)
		}
	} else {
		dir, err = os.MkdirTemp(o.Dir, "run-")
	}
	if err != nil {
		return runResult{}, err
	}
	r := &replayer{
		h: h, o: o, eo: eo,
		clock:   newVClock(h.boots[0].Started),
		drv:     drivertest.New(),
		path:    filepath.Join(dir, "replay.db"),
		matched: make(map[string]int),
		bootMap: make(map[uint64]uint64),
		noted:   make(map[string]bool),
	}
	r.drv.SetClock(r.clock.Now)
	// The engine counts its effects and queued observations, and the
	// driver the reports it sends from goroutines of its own, in one
	// Activity: settling waits for it to be idle.
	r.drv.Track(&r.act)
	div := r.run()
	r.shutdown()
	return runResult{matched: r.total, notes: r.notes, div: div}, r.err
}

// replayer is one run of a history through today's engine.
type replayer struct {
	h     *history
	o     Options
	eo    engine.Options
	clock *vclock
	drv   *drivertest.Driver
	path  string

	st  *store.Store
	eng *engine.Engine
	act engine.Activity // the engine's and the driver's work in flight
	err error

	mu          sync.Mutex // guards the gate's view of the boot
	boot        store.Boot
	crashedBoot bool
	cutAt       time.Time      // the recorded daemon's last write in this boot
	appended    map[string]int // writes per VM in this boot

	matched   map[string]int // records compared per VM
	total     int
	seen      uint64            // the scratch store's last record compared
	bootMap   map[uint64]uint64 // scratch boot → recorded boot
	lookupErr map[string]error  // recovery lookups scripted to fail
	cmdErr    error
	notes     []string
	noted     map[string]bool
}

func (r *replayer) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *replayer) note(key, s string) {
	if !r.noted[key] {
		r.noted[key] = true
		r.notes = append(r.notes, s)
	}
}

func (r *replayer) run() *Divergence {
	for _, boot := range r.h.boots {
		if d := r.startBoot(boot); d != nil || r.err != nil {
			return d
		}
		order := r.h.inBoot[boot.Number]
		for j, i := range order {
			next := -1 // the record given after i, if any in this boot
			if j+1 < len(order) {
				next = order[j+1]
			}
			if d := r.step(i, next); d != nil || r.err != nil {
				return d
			}
		}
		if d := r.endBoot(boot); d != nil || r.err != nil {
			return d
		}
	}
	for _, vm := range slices.Sorted(maps.Keys(r.h.byVM)) {
		if idxs := r.h.byVM[vm]; r.matched[vm] < len(idxs) {
			return r.missing(r.h.recs[idxs[r.matched[vm]]], "")
		}
	}
	return nil
}

// startBoot opens the scratch store and today's engine as the recorded
// daemon did at boot's start, after setting up what its recovery found.
func (r *replayer) startBoot(boot store.Boot) *Divergence {
	r.clock.set(boot.Started)
	r.mu.Lock()
	r.boot = boot
	r.crashedBoot = r.h.crashed(boot.Number)
	r.cutAt = boot.Started
	if t, ok := r.h.bootLast[boot.Number]; ok {
		r.cutAt = t
	}
	r.appended = make(map[string]int)
	r.mu.Unlock()

	st, err := store.Open(r.path, store.Options{NoSync: true, Now: r.clock.Now, Timeout: time.Second, BootInfo: boot.BootInfo})
	if err != nil {
		r.fail(fmt.Errorf("scratch store: %w", err))
		return nil
	}
	r.st = st
	r.bootMap[st.Boot()] = boot.Number
	heads, err := st.Heads()
	if err != nil {
		r.fail(fmt.Errorf("scratch store: %w", err))
		return nil
	}
	r.prepareRecovery(boot, heads)
	r.script()
	var prev store.Boot // the host boot ids tell recovery of a host reboot
	if boot.Number >= 2 {
		prev = r.h.boots[boot.Number-2]
	}
	eng, err := engine.Open(context.Background(), engine.Options{
		Store:           &gate{Store: st, r: r},
		Driver:          r.drv,
		Clock:           r.clock,
		GracefulTimeout: r.eo.GracefulTimeout,
		StartTimeout:    r.eo.StartTimeout,
		TerminateGrace:  r.eo.TerminateGrace,
		PrevHostBootID:  prev.HostBootID,
		HostBootID:      boot.HostBootID,
		// Starts and deletes from outside are fed when a record tells
		// them (feed), never found by a poll of the replay's own.
		OutsidePoll: -1,

		RestartBackoff:    r.eo.RestartBackoff,
		RestartBackoffMax: r.eo.RestartBackoffMax,
		RestartLimit:      r.eo.RestartLimit,
		RestartWindow:     r.eo.RestartWindow,

		Activity: &r.act,
	})
	if err != nil {
		r.fail(fmt.Errorf("today's engine: open: %w", err))
		return nil
	}
	r.eng = eng
	r.lookupErr = nil
	r.settle()
	return r.compare()
}

// endBoot ends the daemon of boot the way the recorded one ended: a boot
// closed with the detach mark (--detach-on-exit) left its VMs running, as
// the engine's Close does, for the next boot's recovery to adopt.
func (r *replayer) endBoot(boot store.Boot) *Divergence {
	if !boot.Closed.IsZero() {
		if d := r.advanceTo(boot.Closed); d != nil {
			return d
		}
	}
	r.eng.Close()
	r.settle()
	d := r.compare()
	if !boot.Closed.IsZero() || !r.h.crashed(boot.Number) {
		r.clock.set(boot.Closed)
		closeBoot := r.st.Close
		if boot.Detached {
			closeBoot = r.st.CloseDetached
		}
		if err := closeBoot(); err != nil {
			r.fail(fmt.Errorf("scratch store: %w", err))
		}
	} else {
		_ = r.st.Crash()
	}
	r.eng, r.st = nil, nil
	return d
}

// shutdown releases whatever a divergence or an error left open.
func (r *replayer) shutdown() {
	if r.eng != nil {
		r.eng.Close()
	}
	if r.st != nil {
		_ = r.st.Close()
	}
	r.eng, r.st = nil, nil
	r.waitIdle()
}

// step replays the recorded record i (next is the record given after it,
// -1 if none in this boot): let the engine's timers run up to
// its time, then give the engine the input the record stands for, unless
// the engine already wrote it, and check it did.
func (r *replayer) step(i, next int) *Divergence {
	rec := r.h.recs[i]
	k := r.h.vmIdx[i]
	r.cmdErr = nil
	r.script()
	if d := r.advanceTo(rec.Time); d != nil || r.err != nil {
		return d
	}
	if r.matched[rec.VM] > k {
		return nil // written already, as a consequence of an earlier input
	}
	if r.matched[rec.VM] < k {
		return r.missing(r.h.recs[r.h.byVM[rec.VM][r.matched[rec.VM]]], "")
	}
	r.feed(rec)
	r.settle()
	if d := r.compare(); d != nil || r.matched[rec.VM] > k {
		return d
	}
	// Not yet: a real daemon writes a little after the fact. Wait up to
	// the tolerance, but not past the next record.
	limit := rec.Time.Add(r.o.Tolerance)
	if next >= 0 && r.h.recs[next].Time.Before(limit) {
		limit = r.h.recs[next].Time
	}
	if d := r.advanceTo(limit); d != nil || r.matched[rec.VM] > k {
		return d
	}
	return r.missing(rec, fmt.Sprintf(" by %s", clock(limit, r.h.loc)))
}

// inputBefore gives today's engine, before a timer due at due fires, the
// next recorded record of each VM whose deadline that is, when the record
// is an input (a command, or an observation of the driver) written within
// the tolerance after the deadline. The history shows that the input won
// (the timer's record did not come first): the recorded daemon had it
// before its own deadline, which may have been later than the replay's (a
// stop or a backoff written a little after the update or the crash that
// caused it), or wrote it late (an exit, recorded once the agent's tree
// was gone and cleaned up), or several in a row on a starved machine. fed
// keeps a record from being given twice; gave tells whether one was given.
func (r *replayer) inputBefore(due time.Time, fed map[fedKey]bool) (d *Divergence, gave bool) {
	if r.st == nil {
		return nil, false
	}
	heads, err := r.st.Heads()
	if err != nil {
		r.fail(fmt.Errorf("scratch store: %w", err))
		return nil, false
	}
	for _, h := range heads {
		idxs, k := r.h.byVM[h.VM], r.matched[h.VM]
		if fed[fedKey{h.VM, k}] || !h.Deadline.Equal(due) || k >= len(idxs) {
			continue
		}
		rec := r.h.recs[idxs[k]]
		if in, _ := inputOf(rec); in == inputNone || rec.Boot != r.boot.Number || rec.From != h.State ||
			!rec.Time.After(due) || rec.Time.Sub(due) > r.o.Tolerance {
			continue
		}
		fed[fedKey{h.VM, k}], gave = true, true
		r.clock.set(due.Add(-time.Nanosecond))
		r.cmdErr = nil
		r.feed(rec)
		r.settle()
		if d := r.compare(); d != nil {
			return d, true
		}
	}
	return nil, gave
}

// fedKey is a VM's record given by inputBefore: the VM and its index.
type fedKey struct {
	vm string
	k  int
}

// observation tells whether rec is one feed gives the engine as the
// driver's report (not a command).
func observation(rec store.Record) bool {
	in, _ := inputOf(rec)
	return in == inputObservation
}

// input is what a recorded record stands for, for the replay to give
// today's engine.
type input uint8

const (
	// inputNone: the engine writes the record on its own (a timer, an
	// effect, recovery, the restart policy), or the record is of a
	// version-1 cause the store did not know.
	inputNone input = iota
	inputCommand
	inputObservation
)

// inputOf classifies rec by its event and, where the event alone does not
// tell, its cause's kind. Every event is named, and known is false for an
// event or a kind the replay does not know
// (TestReplayCoversEveryEventAndCause fails).
func inputOf(rec store.Record) (_ input, known bool) {
	known = replay.CauseKnown(rec.Cause.Kind)
	switch k := rec.Cause.Kind; {
	case rec.Event == states.Adopted && k == store.CauseStartedOutside,
		rec.Event == states.Delete && k == store.CauseDeletedOutside:
		// The driver's report of what someone else did to a Stopped VM
		// (limactl start, limactl delete), which today's engine finds at
		// its next look (PollOutside).
		return inputObservation, known
	case rec.Event == states.Adopted && k == store.CauseImported,
		rec.Event == states.Start && k == store.CauseAutostart,
		rec.Event == states.Reset && k == store.CauseAutostart:
		// Written by the engine itself: the import command's adoption of
		// the agent it found, the daemon's start of an autostart VM at
		// Open.
		return inputNone, known
	}
	switch rec.Event {
	case states.Create, states.Update, states.Start, states.Stop, states.ForceStop, states.Reset, states.Delete, states.Release:
		return inputCommand, known
	case states.EventRunning, states.Crashed, states.Spawned, states.StoppedOutside:
		return inputObservation, known
	case states.StopTimeout, states.KillFailed, states.Adopted, states.Lost, states.Backoff, states.Restart:
		return inputNone, known
	case states.StartFailed, states.Exited:
		// The driver's report of the agent's exit or error; the engine's
		// own record otherwise (a deadline, a failed spawn, a kill).
		if k := rec.Cause.Kind; k == store.CauseAgentExit || k == store.CauseAgentError {
			return inputObservation, known
		}
		return inputNone, known
	}
	return inputNone, false
}

// missing is the divergence of a recorded record today's engine did not
// write.
func (r *replayer) missing(rec store.Record, by string) *Divergence {
	d := &Divergence{VM: rec.VM, VMSeq: rec.VMSeq, Recorded: &rec,
		Why: fmt.Sprintf("today's engine did not write %s %s%s", rec.Event, transition(rec), by)}
	if r.cmdErr != nil {
		d.CommandErr = r.cmdErr.Error()
		d.Why += ": the command failed"
	}
	return d
}

// advanceTo moves virtual time to t, firing the engine's timers due by
// then one at a time, and checks what each made the engine write.
func (r *replayer) advanceTo(t time.Time) *Divergence {
	fed := make(map[fedKey]bool)
	for r.err == nil {
		due, ok := r.clock.peek(t)
		if !ok {
			break
		}
		if d, gave := r.inputBefore(due, fed); d != nil || gave {
			if d != nil {
				return d
			}
			continue // the observation may have stopped the timer
		}
		f, ok := r.clock.next(t)
		if !ok {
			break
		}
		f()
		r.settle()
		if d := r.compare(); d != nil {
			return d
		}
	}
	r.clock.set(t)
	return nil
}

// settle returns once the engine has done all it does at this instant.
func (r *replayer) settle() {
	if r.o.Settle != nil {
		r.o.Settle()
		return
	}
	r.waitIdle()
}

// waitIdle waits, in real time, until neither today's engine nor the
// scripted driver has work in flight: every effect the engine started for
// this instant, and every observation queued or on its way, is done, and
// each started the next before it ended (engine.Activity). The timers left
// are the virtual clock's, which the replay fires itself.
func (r *replayer) waitIdle() {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultSettleTimeout)
	defer cancel()
	if err := r.act.Wait(ctx); err != nil {
		r.fail(fmt.Errorf("today's engine did not settle within %s at virtual time %s (%d effects or observations in flight)",
			DefaultSettleTimeout, when(r.clock.Now(), r.h.loc), r.act.InFlight()))
	}
}

// compare checks every record the engine wrote since the last compare
// against the history, VM by VM.
func (r *replayer) compare() *Divergence {
	if r.st == nil || r.err != nil {
		return nil
	}
	var div *Divergence
	var early []store.Record
	err := r.st.Records(r.seen+1, func(a store.Record) error {
		r.seen = a.Seq
		idxs := r.h.byVM[a.VM]
		k := r.matched[a.VM]
		if k >= len(idxs) {
			div = &Divergence{VM: a.VM, VMSeq: a.VMSeq, Replayed: &a,
				Why: fmt.Sprintf("today's engine wrote %s %s, where the history has no more records of %s", a.Event, transition(a), a.VM)}
			return errStop
		}
		want := r.h.recs[idxs[k]]
		if why := r.differs(want, a); why != "" {
			div = &Divergence{VM: a.VM, VMSeq: want.VMSeq, Recorded: &want, Replayed: &a, Why: why}
			if r.cmdErr != nil {
				div.CommandErr = r.cmdErr.Error()
			}
			return errStop
		}
		r.matched[a.VM]++
		r.total++
		if next, ok := r.commandBeforeEffect(want); ok {
			early = append(early, next)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		r.fail(fmt.Errorf("scratch store: %w", err))
	}
	if div != nil || r.err != nil {
		return div
	}
	// A command the history shows before an effect (a spawn, a force
	// stop's kill) took the VM's lock first: give it now, at the instant of
	// the record that started the effect, before the effect (due at once on
	// the virtual clock) can run. The compare that follows gives
	// the command after it, if that one came first too.
	for _, rec := range early {
		r.feed(rec)
		r.settle()
		if d := r.compare(); d != nil {
			return d
		}
	}
	return nil
}

// commandBeforeEffect returns the VM's next recorded record after matched,
// when the history shows it a command that took the VM's lock before the
// effect a just-matched record started could run: the spawn of a start or
// restart (a stop, force stop or update of the still-Starting VM), or the
// tree kill of a force stop (an update of the ForceStopping VM, or the
// identity of its VM driver process, observed). matched is
// that record, or one of those self-loops after it with nothing else
// between, in the same boot. A stop before the spawn meant no agent
// was ever spawned; an update came before the spawned or exited that
// follows.
func (r *replayer) commandBeforeEffect(matched store.Record) (store.Record, bool) {
	idxs, k := r.h.byVM[matched.VM], r.matched[matched.VM]
	if k >= len(idxs) {
		return store.Record{}, false
	}
	// Back from matched to the record that started the effect: only
	// updates (self-loops) between.
	var began states.State
	for j := k - 1; j >= 0; j-- {
		rec := r.h.recs[idxs[j]]
		if rec.Boot != matched.Boot {
			break
		}
		if startsEffect(rec) {
			began = rec.To
			break
		}
		if rec.From != rec.To || !(rec.Event == states.Update || appearedWhileForceStopping(rec)) {
			break
		}
	}
	next := r.h.recs[idxs[k]]
	if next.Boot != matched.Boot || next.From != matched.To || next.From != began {
		return store.Record{}, false
	}
	switch {
	case began == states.Starting && (next.Event == states.Stop || next.Event == states.ForceStop || next.Event == states.Update):
	case began == states.ForceStopping && (next.Event == states.Update || appearedWhileForceStopping(next)):
		// An update, or the VM driver process's identity observed (a
		// spawned self-loop), before the kill took the lock.
	default:
		return store.Record{}, false
	}
	return next, true
}

// appearedWhileForceStopping tells the identity of a ForceStopping VM's
// driver process, observed (a spawned self-loop): like an update, it took
// the VM's lock between the force stop and its tree kill.
func appearedWhileForceStopping(rec store.Record) bool {
	return rec.Event == states.Spawned && rec.From == states.ForceStopping && rec.Cause.Kind == store.CauseAppeared
}

// startsEffect tells a record after which the engine runs an effect on its
// own, taking the VM's lock again: the spawn of a start or restart, the
// tree kill of a force stop.
func startsEffect(rec store.Record) bool {
	return (rec.To == states.Starting && rec.From != states.Starting) || rec.Event == states.ForceStop
}

// differs says how a replayed record differs from the recorded one, "" if
// it does not.
func (r *replayer) differs(want, got store.Record) string {
	tol := r.o.Tolerance
	var diffs []string
	if want.Event != got.Event || want.From != got.From || want.To != got.To {
		diffs = append(diffs, fmt.Sprintf("the history has %s %s, today's engine %s %s", want.Event, transition(want), got.Event, transition(got)))
	}
	if b := r.bootMap[got.Boot]; b != want.Boot {
		diffs = append(diffs, fmt.Sprintf("written by boot %d, not boot %d", b, want.Boot))
	}
	if dt := got.Time.Sub(want.Time); dt > tol || dt < -tol {
		diffs = append(diffs, fmt.Sprintf("written %s %s", dur(abs(dt)), laterEarlier(dt)))
	}
	switch {
	case want.Deadline.IsZero() && !got.Deadline.IsZero():
		diffs = append(diffs, fmt.Sprintf("a deadline (+%s) where the history has none", dur(got.Deadline.Sub(got.Time))))
	case !want.Deadline.IsZero() && got.Deadline.IsZero():
		diffs = append(diffs, fmt.Sprintf("no deadline where the history has +%s", dur(want.Deadline.Sub(want.Time))))
	case !want.Deadline.IsZero():
		if dt := got.Deadline.Sub(want.Deadline); dt > tol || dt < -tol {
			diffs = append(diffs, fmt.Sprintf("the deadline is %s %s (+%s after the record instead of +%s)",
				dur(abs(dt)), laterEarlier(dt), dur(got.Deadline.Sub(got.Time)), dur(want.Deadline.Sub(want.Time))))
		}
	}
	return strings.Join(diffs, "; ")
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func laterEarlier(d time.Duration) string {
	if d < 0 {
		return "earlier"
	}
	return "later"
}

// gate is the scratch store as today's engine sees it: in a boot that
// crashed, it loses the writes the recorded daemon never made.
type gate struct {
	*store.Store
	r *replayer
}

// Append writes through the scratch store, unless the recorded daemon had
// crashed by then.
func (g *gate) Append(ctx context.Context, w store.Write) (store.Record, error) {
	return g.r.append(ctx, w)
}

func (r *replayer) append(ctx context.Context, w store.Write) (store.Record, error) {
	r.mu.Lock()
	vm := w.Record.VM
	n := r.appended[vm]
	budget := r.h.perVMBt[r.boot.Number][vm]
	if n >= budget && r.crashedBoot && (!r.clock.Now().Before(r.cutAt) || r.effectCutShort(w.Record)) {
		r.mu.Unlock()
		return store.Record{}, errDaemonGone
	}
	r.appended[vm] = n + 1
	r.mu.Unlock()
	return r.st.Append(ctx, w)
}

// effectCutShort tells whether rec, a write beyond what the recorded
// daemon wrote for its VM in this crashed boot, is the record of an effect
// the daemon died during, within the tolerance of its death: the spawned
// of a start or restart, the exited or kill_failed of a force stop's
// tree kill (or of a stop_timeout's, at its deadline), the exited of a stop that found nothing to stop, the stop an
// update of a Running VM writes after its own record and the start after
// that stop's exited, the backoff after a
// crash or the restart the backoff set a timer for, that record (or updates after it) being the VM's last in the
// boot. The effect takes real time (define, fork; freeze, kill, wait; the
// write of the backoff that arms the timer) that the replay does not. It
// needs r.mu.
func (r *replayer) effectCutShort(rec store.Record) bool {
	var began func(store.Record) bool
	switch {
	case rec.Event == states.Spawned && rec.From == states.Starting:
		began = func(last store.Record) bool { return last.Event == states.Start || last.Event == states.Restart }
	case (rec.Event == states.Exited || rec.Event == states.KillFailed) && rec.From == states.ForceStopping:
		// The kill of a force stop, or the one at the terminate deadline
		// of a stop that ran out of its grace.
		began = func(last store.Record) bool {
			return last.Event == states.ForceStop || last.Event == states.StopTimeout
		}
	case rec.Event == states.Exited && rec.From == states.Stopping:
		// A stop that came while the spawn was under way: the recorded
		// daemon was still forking when it died, the replay's spawn took
		// no time.
		began = func(last store.Record) bool { return last.Event == states.Stop }
	case rec.Event == states.Restart && rec.From == states.Broken:
		// The replay arms the restart timer at the crash; the recorded
		// daemon armed it when its backoff record was written, a little
		// later, and may have died in between.
		began = func(last store.Record) bool { return last.Event == states.Backoff }
	case rec.Event == states.Stop && rec.From == states.Running && rec.Cause.Kind == store.CauseUpdate:
		// An update of a Running VM writes its record and then the stop
		// that applies it, in one command: the recorded daemon may have
		// died between the two (the next boot adopts the VM, and the new
		// spec applies at its next start), the replay's command wrote
		// both.
		began = func(last store.Record) bool { return last.Event == states.Update && last.From == states.Running }
	case rec.Event == states.Start && rec.From == states.Stopped && rec.Cause.Kind == store.CauseUpdate:
		// The start that applies an update of a Running VM follows the
		// exited of its stop in one go: the recorded daemon may have died
		// between the two (the kill took real time, the replay's none), and
		// the next boot resumes the restart.
		began = func(last store.Record) bool {
			return last.Event == states.Exited && (last.From == states.Stopping || last.From == states.ForceStopping)
		}
	case rec.Event == states.Backoff:
		// The restart policy's record right after a crash or a failed start.
		began = func(last store.Record) bool {
			return last.Event == states.Crashed || last.Event == states.StartFailed || last.Event == states.Lost
		}
	default:
		return false
	}
	if r.cutAt.Sub(r.clock.Now()) > r.o.Tolerance {
		return false
	}
	idxs := r.h.byVM[rec.VM]
	for j := len(idxs) - 1; j >= 0; j-- {
		last := r.h.recs[idxs[j]]
		if last.Boot > r.boot.Number {
			continue
		}
		switch {
		case last.Boot < r.boot.Number:
			return false
		case began(last):
			return true
		case last.Event == states.Update && last.From == rec.From:
			continue // a command between the effect's start and its record
		case appearedWhileForceStopping(last) && rec.From == states.ForceStopping:
			continue // the VM driver process's identity, observed before the kill
		default:
			return false
		}
	}
	return false
}

// feed gives today's engine the input rec stands for: a user command, or
// an observation of the driver. Records the engine writes on its own
// (timers, effects, recovery) need none.
func (r *replayer) feed(rec store.Record) {
	ctx := context.Background()
	vm := rec.VM
	var err error
	switch rec.Event {
	case states.Create:
		if rec.Cause.Kind == store.CauseImported {
			// Someone else made the definition (limactl create) and, when
			// the history adopts it at once, runs it (limactl start).
			r.drv.MakeOutside(vm, r.specFor(rec))
			if next, ok := r.nextOf(rec); ok && next.Event == states.Adopted && next.Cause.Kind == store.CauseImported {
				r.drv.StartOutside(vm)
			}
			_, err = r.eng.Import(ctx, vm, drivers.Spec{})
			break
		}
		_, err = r.eng.Create(ctx, vm, r.specFor(rec))
	case states.Release:
		_, err = r.eng.Release(ctx, vm)
	case states.Update:
		_, err = r.eng.Update(ctx, vm, r.specFor(rec))
	case states.Start:
		_, err = r.eng.Start(ctx, vm)
	case states.Stop:
		_, err = r.eng.Stop(ctx, vm, engine.StopOptions{Reason: rec.Cause.Detail, Grace: rec.Cause.Grace})
	case states.ForceStop:
		_, err = r.eng.Stop(ctx, vm, engine.StopOptions{Force: true, Reason: rec.Cause.Detail})
	case states.Adopted:
		if !observation(rec) {
			break // recovery's own record
		}
		// Someone else started the agent: the model runs one from now on,
		// and the engine looks.
		r.drv.StartOutside(vm)
		r.eng.PollOutside(ctx, vm)
	case states.Delete:
		if observation(rec) {
			// Someone else deleted the definition the engine had seen
			// (its poll before the delete): the engine looks again.
			r.eng.PollOutside(ctx, vm)
			r.drv.DeleteOutside(vm)
			r.eng.PollOutside(ctx, vm)
			break
		}
		fallthrough
	case states.Reset:
		// The recorded command found nothing of the VM running.
		if rec.From == states.Broken {
			r.drv.Kill(vm)
		}
		if rec.Event == states.Reset {
			_, err = r.eng.Reset(ctx, vm)
		} else {
			_, err = r.eng.Delete(ctx, vm)
		}
	case states.EventRunning:
		r.report(vm, drivers.Observation{Kind: drivers.ObsRunning})
	case states.StoppedOutside:
		// The driver's evidence that someone else stopped the agent, which
		// the cause's detail holds.
		outside := rec.Cause.Detail
		if outside == "" {
			outside = rec.Reason
		}
		r.report(vm, drivers.Observation{Kind: drivers.ObsExited, Code: rec.Cause.Code, Signal: rec.Cause.Signal, Exiting: rec.Cause.Exiting, Outside: outside})
	case states.Crashed, states.StartFailed, states.Exited:
		if !observation(rec) {
			break // the engine's own record (a deadline, a failed spawn, a kill)
		}
		c := rec.Cause
		switch c.Kind {
		case store.CauseAgentExit:
			r.report(vm, drivers.Observation{Kind: drivers.ObsExited, Code: c.Code, Signal: c.Signal, Exiting: c.Exiting, Reason: c.Detail})
		case store.CauseAgentError:
			r.report(vm, drivers.Observation{Kind: drivers.ObsFailed, Reason: c.Err})
		default:
			// A crashed record of an unknown (version-1) cause: the agent
			// exited, by what it says.
			r.report(vm, drivers.Observation{Kind: drivers.ObsExited, Code: -1, Reason: c.Detail})
		}
	case states.Spawned:
		// A later process of a starting VM (Lima's QEMU) appeared.
		if h, ok, herr := r.st.Head(vm); herr == nil && ok && !h.Agent.IsZero() {
			r.report(vm, drivers.Observation{Kind: drivers.ObsIdentity, Procs: drivers.Procs{Agent: h.Agent, VMProcess: rec.VMProcess}})
		}
	}
	r.cmdErr = err
}

// nextOf returns the record of rec's VM that follows rec in the history.
func (r *replayer) nextOf(rec store.Record) (store.Record, bool) {
	idxs := r.h.byVM[rec.VM]
	j := slices.IndexFunc(idxs, func(i int) bool { return r.h.recs[i].Seq == rec.Seq })
	if j < 0 || j+1 >= len(idxs) {
		return store.Record{}, false
	}
	return r.h.recs[idxs[j+1]], true
}

// report makes vm's modelled agent report o; a VM with no live agent in
// the model cannot, and the comparison shows what follows.
func (r *replayer) report(vm string, o drivers.Observation) {
	if !r.drv.Report(vm, o) {
		r.cmdErr = fmt.Errorf("the replay has no live agent of %s to report %s", vm, o.Kind)
	}
}
