package main

import (
	"context"
	"errors"
	"fmt"
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
	err := c.Events(wctx, client.EventsOptions{VM: name, Since: res.Seq, Follow: true}, func(r api.Record) error {
		o.apply(r)
		p.record(r)
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
