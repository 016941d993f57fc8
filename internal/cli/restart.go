package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
)

type restartOptions struct {
	waitFlags
	targets
	grace time.Duration
}

func newRestartCommand(g *Globals) *cobra.Command {
	o := &restartOptions{}
	cmd := &cobra.Command{
		Use:   "restart NAME... | restart --all",
		Short: "Stop VMs (waiting until they are Stopped), then start them again",
		Long: `Stop each VM (interrupt, then force at the graceful deadline), wait until it
is Stopped, then start it: one command for stop --wait and start. A VM that
is Stopped is only started. With --wait, wait until it is Running again;
--timeout bounds each of the two waits.`,
		ValidArgsFunction: completeVMs(g, api.Running, api.Starting, api.Stopped),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := o.names(cmd.Context(), g, cmd, args, stoppable)
			if err != nil {
				return err
			}
			p := newProgress(g, cmd.ErrOrStderr(), len(names))
			return forEachVM(cmd, g, names, func(ctx context.Context, name string) (outcome, error) {
				return restartVM(ctx, g, name, o, p)
			}, func(out outcome) string { return goingLine(g, out, "restarting") })
		},
	}
	cmd.Flags().DurationVarP(&o.grace, "grace", "t", 0, "for the stop, how long the guest has to power off before it is forced, 1s to 1h")
	o.waitFlags.add(cmd)
	o.targets.add(cmd, "that is Running or Starting")
	return cmd
}

func restartVM(ctx context.Context, g *Globals, name string, o *restartOptions, p progress) (outcome, error) {
	c := g.client()
	v, err := c.Status(ctx, name)
	if err != nil {
		return outcome{Name: name}, withHint(ctx, g, "restart", name, err)
	}
	if v.State != api.Stopped {
		r, err := c.StopWith(ctx, name, api.StopRequest{Grace: o.grace})
		if err != nil {
			return outcome{Name: name}, withHint(ctx, g, "restart", name, err)
		}
		if out, err := settle(ctx, c, r, api.Stopped, o.timeout, p); err != nil {
			return out, fmt.Errorf("restart: %w", err)
		}
	}
	return startVM(ctx, g, name, o.waitFlags, p)
}
