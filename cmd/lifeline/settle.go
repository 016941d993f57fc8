package main

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/spf13/cobra"
)

// waitFlags are --wait and --timeout.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (f *waitFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until the VM settles (Running, Stopped or Broken)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", DefaultWaitTimeout, "bound of --wait")
}

// settle waits, from the record at seq on, until the VM is no longer in
// flight, and fails unless it ends in want.
func settle(ctx context.Context, c *client.Client, name string, seq uint64, want api.State, timeout time.Duration) (api.State, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var state api.State
	errSettled := fmt.Errorf("settled")
	err := c.Events(ctx, client.EventsOptions{VM: name, Since: seq + 1, Follow: true}, func(r api.Record) error {
		state = r.To
		if state.InFlight() {
			return nil
		}
		if state != want {
			return fmt.Errorf("vm %q: ended %s, not %s: %s %s", name, state, want, r.Event, r.Reason)
		}
		return errSettled
	})
	switch {
	case err == errSettled:
		return state, nil
	case ctx.Err() != nil:
		return state, timeoutError{fmt.Errorf("vm %q: still %s after %v", name, state, timeout)}
	case err == nil:
		return state, fmt.Errorf("vm %q: the daemon ended the event stream while the vm was %s", name, state)
	}
	return state, err
}
