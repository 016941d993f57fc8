package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
)

// Records that could not be written.
//
// What the driver saw (an agent's exit) and what a deadline decided happened
// whether or not the log can take it now. When the record of an observation
// or of a deadline's decision fails (a full or read-only disk), the engine
// keeps it and handles it again after a backoff, doubling from
// RecordRetryMin up to RecordRetryMax, until its record is written or a
// later record made it moot (the VM left the state it was handled in). So
// the log converges to the truth once the disk takes writes again. Until
// then the VM's snapshot says so (VM.Unrecorded) and LogHealth counts it.
// Close ends every retry. A command is not retried: its caller gets the
// error.

// Retry delays of observations and deadlines whose record failed, named
// once.
const (
	// RecordRetryMin is the wait before the first retry; each failure
	// doubles it.
	RecordRetryMin = 100 * time.Millisecond
	// RecordRetryMax caps the doubling.
	RecordRetryMax = 30 * time.Second
)

// retryDelay is the wait after the tries-th failure (tries >= 1).
func retryDelay(tries int) time.Duration {
	d := RecordRetryMin << min(tries-1, 30)
	if d <= 0 || d > RecordRetryMax {
		d = RecordRetryMax
	}
	return d
}

// LogHealth says how the engine's appends to the log fare.
type LogHealth struct {
	// AppendFailures counts the appends that failed since Open.
	AppendFailures uint64
	// Failing: the latest append failed.
	Failing bool
	// LastError is the error of the latest failed append, LastErrorTime
	// when it failed; empty if none failed since Open.
	LastError     string
	LastErrorTime time.Time
	// Unrecorded counts the observations and deadline decisions whose
	// record failed and that wait for a retry.
	Unrecorded int
}

type logHealth struct {
	mu        sync.Mutex
	failures  uint64
	failing   bool
	lastErr   string
	lastErrAt time.Time
}

// LogHealth reports how appends to the log fare.
func (e *Engine) LogHealth() LogHealth {
	e.health.mu.Lock()
	h := LogHealth{AppendFailures: e.health.failures, Failing: e.health.failing, LastError: e.health.lastErr, LastErrorTime: e.health.lastErrAt}
	e.health.mu.Unlock()
	e.mu.Lock()
	vms := e.sortedVMs()
	e.mu.Unlock()
	for _, v := range vms {
		v.snapMu.Lock()
		for _, u := range []string{v.unrecordedObs, v.unrecordedDeadline} {
			if u != "" {
				h.Unrecorded++
			}
		}
		v.snapMu.Unlock()
	}
	return h
}

// appendFailed notes a failed append of v's. It needs v.mu.
func (e *Engine) appendFailed(v *vm, err error) {
	v.recordErr = err
	e.health.mu.Lock()
	e.health.failures++
	e.health.failing = true
	e.health.lastErr = err.Error()
	e.health.lastErrAt = e.clock.Now().UTC()
	e.health.mu.Unlock()
}

// appendSucceeded notes a durable append of v's; a new state voids what
// waited for a retry in the old one. It needs v.mu.
func (e *Engine) appendSucceeded(v *vm, newState bool) {
	e.health.mu.Lock()
	e.health.failing = false
	e.health.mu.Unlock()
	if newState {
		v.snapMu.Lock()
		v.unrecordedObs, v.unrecordedDeadline = "", ""
		v.snapMu.Unlock()
	}
}

// failedStep is a step whose record failed while the VM stayed in the
// state it was handled in.
type failedStep struct {
	stateEpoch uint64
	err        error
}

// step runs f, a handler of something that happened (an observation, a
// deadline), and reports its failed record if f must run again: a record
// it needed failed and the VM is still in the state f was run in. A step
// that moved the VM and then failed (a crash recorded, its backoff not)
// arranged its own retry. It needs v.mu.
func (e *Engine) step(v *vm, f func()) *failedStep {
	epoch := v.epoch
	v.recordErr = nil
	f()
	err := v.recordErr
	v.recordErr = nil
	if err == nil || v.epoch != epoch || e.ctx.Err() != nil {
		return nil
	}
	return &failedStep{stateEpoch: epoch, err: err}
}

// handleObservation handles q under v.mu. An observation of an older watch
// is dropped; a retried one is handled only while the VM is still in the
// state whose record failed (a later record made it moot otherwise).
func (e *Engine) handleObservation(v *vm, q queuedObs) *failedStep {
	if e.ctx.Err() != nil {
		return nil
	}
	if q.retry {
		if v.epoch != q.stateEpoch {
			e.log.Info().Str("vm", v.name).Stringer("obs", q.obs.Kind).Stringer("state", v.head.State).Msg("unrecorded observation dropped: a later record superseded it")
			e.setUnrecorded(v, &v.unrecordedObs, "")
			return nil
		}
	} else if q.epoch != v.watchEpoch {
		return nil
	}
	failed := e.step(v, func() { e.observe(v, q.obs) })
	if failed == nil {
		e.setUnrecorded(v, &v.unrecordedObs, "")
	}
	return failed
}

// retryObservations schedules the drain of v's queue again after the
// tries-th failure of its head. It needs v.obs.mu.
func (e *Engine) retryObservations(v *vm, tries int, err error) {
	d := retryDelay(tries)
	q := v.obs.items[0]
	e.setUnrecorded(v, &v.unrecordedObs, fmt.Sprintf("%s (%s) not recorded: %v; try %d in %v", obsName(q.obs), q.obs.Reason, err, tries+1, d))
	e.log.Warn().Err(err).Str("vm", v.name).Stringer("obs", q.obs.Kind).Int("tries", tries).Dur("retry_in", d).Msg("observation not recorded: kept for a retry")
	e.retryAfter(d, func() { e.drainObservations(v) })
}

// retryAfter runs f as an effect after d, unless the engine is closed
// first: Close stops the timer, and an f it would start finds the engine
// closed anyway.
func (e *Engine) retryAfter(d time.Duration, f func()) {
	var mu sync.Mutex
	var t Timer
	stop := context.AfterFunc(e.ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if t != nil {
			t.Stop()
		}
	})
	mu.Lock()
	defer mu.Unlock()
	t = e.clock.AfterFunc(d, func() {
		stop()
		e.goEffect(f)
	})
}

// retryIdentity records again, after the tries-th failure's backoff, the
// identity of a just-spawned agent whose spawned record failed, and
// watches the agent once it is recorded. Nothing else is queued behind it:
// no watch runs until it is recorded. It is dropped once the VM left the
// state (a later record made it moot: a stop finds the agent through the
// driver, discover). It needs v.mu.
func (e *Engine) retryIdentity(v *vm, procs drivers.Procs, tries int, err error) {
	d := retryDelay(tries)
	e.setUnrecorded(v, &v.unrecordedObs, fmt.Sprintf("new process identity (agent pid %d) not recorded: %v; try %d in %v", procs.Agent.PID, err, tries+1, d))
	e.log.Warn().Err(err).Str("vm", v.name).Int("pid", procs.Agent.PID).Int("tries", tries).Dur("retry_in", d).Msg("spawned not recorded: kept for a retry")
	epoch := v.epoch
	e.retryAfter(d, func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		if e.ctx.Err() != nil {
			return
		}
		if v.epoch != epoch || !v.procs().Agent.IsZero() {
			e.log.Info().Str("vm", v.name).Int("pid", procs.Agent.PID).Stringer("state", v.head.State).Msg("unrecorded identity dropped: a later record superseded it")
			e.setUnrecorded(v, &v.unrecordedObs, "")
			return
		}
		if _, err := e.transition(e.ctx, v, states.Spawned, change{procs: procs, deadline: v.head.Deadline}); err != nil {
			e.retryIdentity(v, procs, tries+1, err)
			return
		}
		e.setUnrecorded(v, &v.unrecordedObs, "")
		e.watch(v)
	})
}

// runDeadline runs a deadline's decision f (under v.mu, the timer's epoch
// checked) and, when its record failed, arms it again after a backoff.
func (e *Engine) runDeadline(v *vm, f func(v *vm), try int) {
	failed := e.step(v, func() { f(v) })
	if failed == nil || v.timer != nil {
		e.setUnrecorded(v, &v.unrecordedDeadline, "")
		return
	}
	e.retryDeadline(v, f, try+1, failed.err)
}

// retryDeadline arms f again after the tries-th failure of its record. It
// needs v.mu.
func (e *Engine) retryDeadline(v *vm, f func(v *vm), tries int, err error) {
	d := retryDelay(tries)
	e.setUnrecorded(v, &v.unrecordedDeadline, fmt.Sprintf("%s's decision not recorded: %v; try %d in %v", v.head.State, err, tries+1, d))
	e.log.Warn().Err(err).Str("vm", v.name).Stringer("state", v.head.State).Int("tries", tries).Dur("retry_in", d).Msg("deadline decision not recorded: kept for a retry")
	e.armTry(v, e.clock.Now().Add(d), f, tries)
}

// afterCrashRetrying applies the restart policy to a VM whose crash was
// just recorded and, when the policy's backoff record failed, retries it:
// the crash is the last record until the policy's decision is written.
// It needs v.mu.
func (e *Engine) afterCrashRetrying(v *vm) {
	v.recordErr = nil
	e.afterCrash(v)
	err := v.recordErr
	// Crashed or lost: the failure of the running VM is the last record.
	failed := func(v *vm) bool {
		return v.head.State == states.Broken && (v.head.Event == states.Crashed || v.head.Event == states.Lost)
	}
	if err == nil || !failed(v) {
		return
	}
	e.retryDeadline(v, func(v *vm) {
		if failed(v) {
			e.afterCrash(v)
		}
	}, 1, err)
}

func (e *Engine) setUnrecorded(v *vm, field *string, s string) {
	v.snapMu.Lock()
	*field = s
	v.snapMu.Unlock()
}

func obsName(o drivers.Observation) string {
	switch o.Kind {
	case drivers.ObsExited:
		return "agent exit"
	case drivers.ObsRunning:
		return "agent running"
	case drivers.ObsFailed:
		return "agent error"
	case drivers.ObsIdentity:
		return "new process identity"
	}
	return o.Kind.String()
}

func joinNonEmpty(ss ...string) string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "; ")
}
