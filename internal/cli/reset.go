package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
)

func newResetCommand(g *Globals) *cobra.Command {
	var t targets
	cmd := &cobra.Command{
		Use:               "reset NAME... | reset --all",
		Short:             "Clear Broken VMs back to Stopped (nothing of them may still run)",
		ValidArgsFunction: completeVMs(g, api.Broken),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := t.names(cmd.Context(), g, cmd, args, func(v api.VM) bool { return v.State == api.Broken })
			if err != nil {
				return err
			}
			return forEachVM(cmd, g, names, func(ctx context.Context, name string) (outcome, error) {
				r, err := g.client().Reset(ctx, name)
				if err != nil {
					return outcome{Name: name}, withHint(ctx, g, "reset", name, err)
				}
				return outcome{Name: r.Name, Seq: r.Seq, State: r.State}, nil
			}, func(o outcome) string { return doneLine(o, "reset") })
		},
	}
	t.add(cmd, "that is Broken")
	return cmd
}
