package engine

import (
	"time"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Restart policy defaults, named once.
const (
	// DefaultRestartBackoff is the first wait before a crashed VM restarts;
	// each further restart in the window doubles it.
	DefaultRestartBackoff = time.Second
	// DefaultRestartBackoffMax caps the doubling.
	DefaultRestartBackoffMax = time.Minute
	// DefaultRestartLimit is how many restarts the window allows; one more
	// crash leaves the VM Broken with "restart limit reached".
	DefaultRestartLimit = 5
	// DefaultRestartWindow is the window the limit counts in.
	DefaultRestartWindow = 10 * time.Minute
)

// RestartOnFailure is the spec's restart policy that restarts a VM after a
// crash (Running → Broken).
const RestartOnFailure = "on-failure"

// afterCrash applies the restart policy to a VM that just went from Running
// to Broken: it records when the restart is due (a backoff record whose
// deadline is the due time, so a restarted daemon honours it), or that the
// limit is reached. It needs v.mu.
func (e *Engine) afterCrash(v *vm) {
	if v.spec.Restart != RestartOnFailure {
		return
	}
	now := e.clock.Now().UTC()
	n, err := e.restartsSince(v, now.Add(-e.opts.RestartWindow))
	if err != nil {
		e.log.Error().Err(err).Str("vm", v.name).Msg("restart policy: read log")
		return
	}
	if n >= e.opts.RestartLimit {
		_, _ = e.transition(e.ctx, v, states.Backoff, change{cause: store.Cause{Kind: store.CauseRestartLimit, N: n, Window: e.opts.RestartWindow}})
		return
	}
	delay := e.opts.RestartBackoff << n
	if delay <= 0 || delay > e.opts.RestartBackoffMax {
		delay = e.opts.RestartBackoffMax
	}
	cause := store.Cause{Kind: store.CauseRestartPolicy, N: n + 1, Limit: e.opts.RestartLimit, Window: e.opts.RestartWindow, Backoff: delay}
	if _, err := e.transition(e.ctx, v, states.Backoff, change{cause: cause, deadline: now.Add(delay)}); err != nil {
		return
	}
	e.armRestart(v)
}

// armRestart schedules the restart a backoff record asked for. It needs
// v.mu.
func (e *Engine) armRestart(v *vm) {
	e.arm(v, v.head.Deadline, func(v *vm) {
		if v.head.State != states.Broken || v.head.Deadline.IsZero() {
			return
		}
		if err := e.ensureNothingRuns(e.ctx, v, "restart"); err != nil {
			_, _ = e.transition(e.ctx, v, states.Backoff, change{cause: store.Cause{Kind: store.CauseRestartGivenUp, Err: err.Error()}})
			return
		}
		// The restart carries the facts of the backoff that scheduled it.
		cause := v.head.Cause
		if cause.Kind != store.CauseRestartPolicy {
			cause = store.Cause{Kind: store.CauseRestartPolicy}
		}
		_, _ = e.startLocked(v, states.Restart, cause)
	})
}

// restartsSince counts v's restart records after t. A VM restarts at most
// RestartLimit times per window and writes a handful of records per
// restart, so only the log's tail is read.
func (e *Engine) restartsSince(v *vm, t time.Time) (int, error) {
	from := uint64(1)
	if tail := uint64(64 * (e.opts.RestartLimit + 1)); v.head.VMSeq > tail {
		from = v.head.VMSeq - tail
	}
	n := 0
	err := e.st.VMRecords(v.name, from, func(r store.Record) error {
		if r.Event == states.Restart && r.Time.After(t) {
			n++
		}
		return nil
	})
	return n, err
}
