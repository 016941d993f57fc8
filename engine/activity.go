package engine

import (
	"context"
	"sync"
)

// Activity counts an engine's work in flight: effects running (a spawn, a
// kill, a stop's signals, a record's retry) and observations queued for a
// VM or being handled. Give one to [Options.Activity] to learn when the
// engine is idle, that is when it will do nothing more until a command, an
// observation of the driver or one of its timers: [Activity.Idle] and
// [Activity.Wait].
//
// The count is exact, not sampled: work in flight starts the next piece of
// work before it ends, so the count reaches zero only once the chain is
// done. A timer waiting on the clock (a deadline, a backoff) is not work
// in flight; neither is a subscription ([Engine.Subscribe]).
//
// A driver that reports from goroutines of its own may join the count
// (Begin before it starts one, End after the sink returned), so that
// idle also means no observation is on its way; the scripted driver does
// (drivertest.Driver.Track). The zero value is ready to use and idle.
type Activity struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n is 0; nil until first needed
}

// closedChan is an idle channel shared by every idle Activity.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Begin counts one more piece of work in flight.
func (a *Activity) Begin() {
	a.mu.Lock()
	if a.n == 0 {
		a.idle = nil // the next Idle call makes a fresh channel
	}
	a.n++
	a.mu.Unlock()
}

// End counts one piece of work done. It panics when nothing was in flight:
// a Begin is missing.
func (a *Activity) End() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n <= 0 {
		panic("engine: Activity.End without Begin")
	}
	a.n--
	if a.n == 0 && a.idle != nil {
		close(a.idle)
	}
}

// InFlight returns how many pieces of work are in flight now.
func (a *Activity) InFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// Idle returns a channel that is closed once nothing is in flight (at
// once if nothing is now). A Begin after that does not reopen it: call
// Idle again for the next wait.
func (a *Activity) Idle() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		return closedChan
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	return a.idle
}

// Wait returns nil once nothing is in flight, or ctx's error when ctx is
// done first.
func (a *Activity) Wait(ctx context.Context) error {
	select {
	case <-a.Idle():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
