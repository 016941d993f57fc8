package cli

import "github.com/spf13/cobra"

func newCreateCommand(g *Globals) *cobra.Command {
	f := &specFlags{}
	cmd := &cobra.Command{
		Use:   "create NAME [--driver command] [-- PROGRAM ARGS...]",
		Short: "Define a VM (it starts Stopped): a Lima VM, or any command to supervise",
		Example: `  lifeline create vm1 --template vm1.yaml
  lifeline create web --driver command -- /usr/bin/python3 -m http.server 8080`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := f.setCommand(cmd, args)
			if err != nil {
				return err
			}
			if err := exactArgs(1)(cmd, args); err != nil {
				return err
			}
			spec, err := f.spec()
			if err != nil {
				return err
			}
			r, err := g.client().Create(cmd.Context(), args[0], spec)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), g, r, "created")
		},
	}
	f.add(cmd)
	return cmd
}
