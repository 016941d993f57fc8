package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// waitFlags are --wait and --timeout.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (f *waitFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until the VM settles (Running, Stopped or Broken), showing each transition")
	cmd.Flags().DurationVar(&f.timeout, "timeout", DefaultWaitTimeout, "bound of --wait (exit 4; what the daemon does goes on)")
}

// outcome is what a command did to one VM: its result line, or its JSON
// object with -o json.
type outcome struct {
	Name  string    `json:"name"`
	Seq   uint64    `json:"seq"` // the last record seen: the command's, or with --wait the one it settled at
	State api.State `json:"state"`
	Event api.Event `json:"event,omitempty"`
	// Deadline is when the state must be left (a stop's SIGTERM, a start's
	// give-up), while the VM is on its way.
	Deadline time.Time `json:"deadline,omitzero"`
	// Forced says why a stop was forced, when it was.
	Forced string `json:"forced,omitempty"`
	// Reason is the last record's reason, for people.
	Reason string `json:"reason,omitempty"`
	// Error is this VM's failure, when a verb for several VMs printed
	// their results together.
	Error *errorJSON `json:"error,omitempty"`
}

func (o *outcome) apply(r api.Record) {
	o.Seq, o.State, o.Event, o.Deadline, o.Reason = r.Seq, r.To, r.Event, r.Deadline, r.Reason
}

// errSettled ends an events stream once the VM settled.
var errSettled = errors.New("settled")

// commandRecord reads the record a command wrote (res.Seq), for what the
// answer does not carry: its event, its deadline, its reason.
func commandRecord(ctx context.Context, c *client.Client, res api.Result) outcome {
	o := outcome{Name: res.Name, Seq: res.Seq, State: res.State}
	_ = c.Events(ctx, client.EventsOptions{VM: res.Name, Since: res.Seq}, func(r api.Record) error {
		if r.Seq == res.Seq {
			o.apply(r)
		}
		return errSettled
	})
	return o
}

// settle follows the VM's records from the command's own (res.Seq) until
// the VM is no longer in flight, telling p each one, and fails unless it
// ends in want. Interrupted (ctx cancelled: Ctrl-C) it claims nothing; out
// of time it names the state the VM was last seen in.
func settle(ctx context.Context, c *client.Client, res api.Result, want api.State, timeout time.Duration, p progress) (outcome, error) {
	name := res.Name
	o := outcome{Name: name, Seq: res.Seq, State: res.State}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stop *api.Record
	var failed error
	var agentLog sync.WaitGroup
	defer agentLog.Wait()
	lctx, stopLog := context.WithCancel(wctx)
	defer stopLog()
	following := false
	var events *agentEvents // Lima's own status events, while it starts
	defer func() {
		if events != nil {
			events.stop()
		}
	}()
	err := c.Events(wctx, client.EventsOptions{VM: name, Since: res.Seq, Follow: true}, func(r api.Record) error {
		o.apply(r)
		if events != nil && !r.To.InFlight() {
			// What the agent reported before the record it led to
			// (Lima's "running" before Running) is shown first.
			events.finish(wctx)
			events = nil
		}
		p.record(r)
		if want == api.Running && r.Event == api.EventSpawned && !following {
			// The agent's own progress (Lima: "Waiting for the essential
			// requirement 1 of 3: ssh"), from its log, and its status
			// events, while it starts.
			following = true
			agentLog.Go(func() { followAgentLog(lctx, c, name, p) })
			events = followAgentEvents(lctx, c, name, p)
		}
		switch r.Event {
		case api.EventStop:
			stop = &r
		case api.EventForceStop:
			o.Forced = "stop --force"
		case api.EventStopTimeout:
			o.Forced = "the agent was still running at the graceful deadline"
			if stop != nil {
				o.Forced = fmt.Sprintf("the agent was still running %s after SIGINT", r.Time.Sub(stop.Time).Round(time.Second))
			}
		}
		if r.To.InFlight() {
			return nil
		}
		if r.To != want {
			failed = endedError(name, want, r)
		}
		return errSettled
	})
	stopLog()
	agentLog.Wait()
	if events != nil {
		events.stop()
		events = nil
	}
	p.done()
	switch {
	case errors.Is(err, errSettled):
		return o, failed
	case ctx.Err() != nil:
		return o, interruptedError{fmt.Errorf("interrupted: no longer following vm %q (last seen %s at seq %d); the daemon goes on with it: `lifeline status %s` shows where it is", name, o.State, o.Seq, name)}
	case wctx.Err() != nil:
		return o, timeoutError{
			err:   fmt.Errorf("vm %q: timed out after %v: still %s (seq %d); the daemon goes on with it: `lifeline wait %s --for=state=%s` waits longer", name, timeout, o.State, o.Seq, name, want),
			VM:    name,
			State: o.State,
		}
	case err == nil:
		return o, fmt.Errorf("vm %q: the daemon ended the event stream while the vm was %s (seq %d): `lifeline status %s` shows where it is", name, o.State, o.Seq, name)
	}
	return o, err
}

// endedError is a VM that settled in another state than the one a
// command waited for.
func endedError(name string, want api.State, r api.Record) error {
	why := string(r.Event)
	if r.Reason != "" {
		why += ": " + r.Reason
	}
	next := fmt.Sprintf("`lifeline status %s` and `lifeline logs %s` say more", name, name)
	if r.To == api.Broken {
		next += fmt.Sprintf("; `lifeline reset %s` clears it", name)
	}
	return vmError{
		err:   fmt.Errorf("vm %q: ended %s at seq %d, not %s (%s); %s", name, r.To, r.Seq, want, why, next),
		VM:    name,
		State: r.To,
	}
}

// agentLogRetry is how often a start's progress asks again for an agent
// log that does not exist yet.
const agentLogRetry = 100 * time.Millisecond

// followAgentLog tells p each line the VM's agent logs (logrus JSON, as
// Lima's host agent writes it; another line as it is), until ctx ends. The
// daemon follows a log only while the agent named by its pid file lives,
// and a just spawned agent may not have written it yet: so it asks again
// until ctx ends, each line told once. A driver that keeps no log shows
// nothing.
func followAgentLog(ctx context.Context, c *client.Client, name string, p progress) {
	seen := 0
	t := time.NewTicker(agentLogRetry)
	defer t.Stop()
	for {
		lw := &lineWriter{skip: seen, fn: func(line string) { noteLogLine(p, name, line) }}
		err := c.Logs(ctx, name, client.LogsOptions{Follow: true}, lw)
		seen = max(seen, lw.n)
		if ctx.Err() != nil || (err != nil && client.ErrorCode(err) != api.CodeNoLog) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// noteLogLine tells p one line of the agent's log: a logrus line's level
// and message, another line as it is; debug lines are left out.
func noteLogLine(p progress, name, line string) {
	var l struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || l.Msg == "" {
		l.Level, l.Msg = "", strings.TrimSpace(line)
	}
	if l.Msg == "" || l.Level == "debug" || l.Level == "trace" {
		return
	}
	p.note(name, l.Level, l.Msg)
}

// lineWriter calls fn with each complete line written to it after the
// first skip; n counts the complete lines.
type lineWriter struct {
	skip, n int
	buf     []byte
	fn      func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.n++
		if w.n > w.skip {
			w.fn(line)
		}
	}
}
