package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
)

type startOptions struct {
	waitFlags
	targets
}

func newStartCommand(g *Globals) *cobra.Command {
	o := &startOptions{}
	cmd := &cobra.Command{
		Use:   "start NAME... | start --all",
		Short: "Start Stopped VMs (one request each, in parallel)",
		Example: `  lifeline start vm1 --wait
  lifeline start --all`,
		ValidArgsFunction: completeVMs(g, api.Stopped),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := o.names(cmd.Context(), g, cmd, args, func(v api.VM) bool { return v.State == api.Stopped })
			if err != nil {
				return err
			}
			p := newProgress(g, cmd.ErrOrStderr(), len(names))
			return forEachVM(cmd, g, names, func(ctx context.Context, name string) (outcome, error) {
				return startVM(ctx, g, name, o.waitFlags, p)
			}, func(out outcome) string { return goingLine(g, out, "starting") })
		},
	}
	o.waitFlags.add(cmd)
	o.targets.add(cmd, "that is Stopped")
	return cmd
}

// startVM starts one VM and, with --wait, follows it until it settles.
func startVM(ctx context.Context, g *Globals, name string, w waitFlags, p progress) (outcome, error) {
	c := g.client()
	r, err := c.Start(ctx, name)
	if err != nil {
		return outcome{Name: name}, withHint(ctx, g, "start", name, err)
	}
	if w.wait {
		return settle(ctx, c, r, api.Running, w.timeout, p)
	}
	return commandRecord(ctx, c, r), nil
}
