package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
)

type deleteOptions struct {
	force   bool
	timeout waitFlags
}

func newDeleteCommand(g *Globals) *cobra.Command {
	o := &deleteOptions{}
	cmd := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete Stopped or Broken VMs (their log stays); --force stops them first",
		Long: `Delete each VM: it must be Stopped or Broken. With --force, a VM that is not
is force-stopped first (recorded as force_stop, then exited), and deleted
once Stopped; --timeout bounds that wait.`,
		ValidArgsFunction: completeVMs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t targets
			names, err := t.names(cmd.Context(), g, cmd, args, nil)
			if err != nil {
				return err
			}
			p := newProgress(g, cmd.ErrOrStderr(), len(names))
			return forEachVM(cmd, g, names, func(ctx context.Context, name string) (outcome, error) {
				return deleteVM(ctx, g, name, o, p)
			}, func(out outcome) string { return doneLine(out, "deleted") })
		},
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "stop a VM that is not Stopped or Broken at once (kill its tree), then delete it")
	cmd.Flags().DurationVar(&o.timeout.timeout, "timeout", DefaultWaitTimeout, "with --force, bound of the wait for the stop")
	return cmd
}

func deleteVM(ctx context.Context, g *Globals, name string, o *deleteOptions, p progress) (outcome, error) {
	c := g.client()
	if o.force {
		v, err := c.Status(ctx, name)
		if err != nil {
			return outcome{Name: name}, withHint(ctx, g, "delete", name, err)
		}
		if v.State != api.Stopped && v.State != api.Broken {
			r, err := c.StopWith(ctx, name, api.StopRequest{Force: true})
			if err != nil {
				return outcome{Name: name}, withHint(ctx, g, "delete", name, err)
			}
			if out, err := settle(ctx, c, r, api.Stopped, o.timeout.timeout, p); err != nil {
				return out, err
			}
		}
	}
	r, err := c.Delete(ctx, name)
	if err != nil {
		return outcome{Name: name}, withHint(ctx, g, "delete", name, err)
	}
	return outcome{Name: r.Name, Seq: r.Seq, State: r.State}, nil
}
