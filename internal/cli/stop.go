package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
)

type stopOptions struct {
	waitFlags
	targets
	force bool
	grace time.Duration
}

func (o *stopOptions) request() (api.StopRequest, error) {
	if o.force && o.grace != 0 {
		return api.StopRequest{}, usageError{fmt.Errorf("stop: --grace and --force exclude each other: --force kills at once, --grace waits")}
	}
	return api.StopRequest{Force: o.force, Grace: o.grace}, nil
}

// stoppable are the VMs stop --all stops: the ones with an agent that a
// stop applies to.
func stoppable(v api.VM) bool { return v.State == api.Running || v.State == api.Starting }

func newStopCommand(g *Globals) *cobra.Command {
	o := &stopOptions{}
	cmd := &cobra.Command{
		Use:   "stop NAME... | stop --all",
		Short: "Stop VMs: interrupt, then force at the graceful deadline (in parallel)",
		Example: `  lifeline stop vm1 --wait
  lifeline stop -t 10s vm1 vm2
  lifeline stop --all --wait`,
		ValidArgsFunction: completeVMs(g, api.Running, api.Starting),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := o.request()
			if err != nil {
				return err
			}
			names, err := o.names(cmd.Context(), g, cmd, args, stoppable)
			if err != nil {
				return err
			}
			p := newProgress(g, cmd.ErrOrStderr(), len(names))
			return forEachVM(cmd, g, names, func(ctx context.Context, name string) (outcome, error) {
				return stopVM(ctx, g, name, req, o.waitFlags, p)
			}, func(out outcome) string { return goingLine(g, out, "stopping") })
		},
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "kill the process tree at once")
	cmd.Flags().DurationVarP(&o.grace, "grace", "t", 0, "for this stop only, how long the guest has to power off before it is forced, 1s to 1h (default: the VM's --graceful-timeout, else the daemon's)")
	o.waitFlags.add(cmd)
	o.targets.add(cmd, "that is Running or Starting")
	return cmd
}

// stopVM stops one VM and, with --wait, follows it until it settles.
func stopVM(ctx context.Context, g *Globals, name string, req api.StopRequest, w waitFlags, p progress) (outcome, error) {
	c := g.client()
	r, err := c.StopWith(ctx, name, req)
	if err != nil {
		return outcome{Name: name}, withHint(ctx, g, "stop", name, err)
	}
	if w.wait {
		return settle(ctx, c, r, api.Stopped, w.timeout, p)
	}
	return commandRecord(ctx, c, r), nil
}
