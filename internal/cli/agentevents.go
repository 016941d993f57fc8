package cli

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// agentEventsDrain bounds the last read of a VM's agent events when its
// --wait ends, for the events that led to the record it ended at (Lima's
// "running" before Running).
const agentEventsDrain = 2 * time.Second

// agentEvents follows a starting VM's status events (Lima's own progress,
// its ha.stdout.log, through the daemon) for a --wait and tells p each one
// once. The daemon follows the events only while the agent named by its
// pid file lives, and a just spawned agent may not have written either
// yet, so it asks again every agentLogRetry until it is stopped; each
// answer starts from the top, and the lines told already are passed over.
// A driver without events (command) answers no_log: nothing is shown.
type agentEvents struct {
	c    *client.Client
	name string
	p    progress

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // seen, skipped, partial: the follow's, then finish's
	seen    int        // complete lines read (events and skipped lines)
	skipped int        // lines that were not events
	partial bool       // the last answer ended in the middle of a line
	none    bool       // the driver has no events
}

// followAgentEvents starts following name's events until finish or ctx
// ends.
func followAgentEvents(ctx context.Context, c *client.Client, name string, p progress) *agentEvents {
	ctx, cancel := context.WithCancel(ctx)
	a := &agentEvents{c: c, name: name, p: p, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		t := time.NewTicker(agentLogRetry)
		defer t.Stop()
		for {
			if !a.read(ctx, true) || ctx.Err() != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return a
}

// read asks the daemon once for the events (following them with follow)
// and tells p the new ones. It reports whether asking again may show
// more: not when the driver has no events or the daemon failed otherwise.
func (a *agentEvents) read(ctx context.Context, follow bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.none {
		return false
	}
	rd := &client.AgentEventReader{Skip: a.seen, Fn: func(ev api.AgentEvent) { a.p.agentEvent(a.name, ev) }}
	err := a.c.Logs(ctx, a.name, client.LogsOptions{Events: true, Follow: follow}, rd)
	a.seen = max(a.seen, rd.Lines())
	a.skipped += rd.Skipped()
	a.partial = rd.Partial()
	if err != nil && ctx.Err() == nil {
		a.none = client.ErrorCode(err) != api.CodeNoLog
		return !a.none
	}
	return true
}

// finish stops the follow and reads the events a last time, within
// agentEventsDrain and ctx, so that what the agent said before the record
// a --wait ended at is shown before it. It says when lines were not
// events, and when the last read ran out of time.
func (a *agentEvents) finish(ctx context.Context) {
	a.cancel()
	<-a.done
	dctx, cancel := context.WithTimeout(ctx, agentEventsDrain)
	defer cancel()
	a.read(dctx, false)
	a.mu.Lock()
	defer a.mu.Unlock()
	if dctx.Err() != nil && ctx.Err() == nil {
		a.p.note(a.name, "warning", fmt.Sprintf("Lima's events were not all read within %v: `lifeline logs %s --events` shows them", agentEventsDrain, a.name))
	}
	if n := a.skipped; n > 0 || a.partial {
		if a.partial {
			n++
		}
		a.p.note(a.name, "warning", fmt.Sprintf("%d line(s) of Lima's events were not events and were skipped: `lifeline logs %s --events` shows them", n, a.name))
	}
}

// stop stops the follow without a last read (a wait that ran out or was
// interrupted).
func (a *agentEvents) stop() {
	a.cancel()
	<-a.done
}
