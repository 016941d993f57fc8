package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newUpdateCommand(g *Globals) *cobra.Command {
	f := &specFlags{}
	cmd := &cobra.Command{
		Use:               "update NAME (--template FILE | -- PROGRAM ARGS...)",
		Short:             "Give a VM a new spec (a Running VM restarts to apply it; its driver stays)",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeOneVM(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := f.setCommand(cmd, args)
			if err != nil {
				return err
			}
			if err := exactArgs(1)(cmd, args); err != nil {
				return err
			}
			if f.template == "" && len(f.command) == 0 {
				return usageError{fmt.Errorf(`update: --template (a lima VM) or a command after "--" (a command VM) is required`)}
			}
			spec, err := f.spec()
			if err != nil {
				return err
			}
			r, err := g.client().Update(cmd.Context(), args[0], spec)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), g, r, "updated")
		},
	}
	f.add(cmd)
	return cmd
}
