package main

import (
	"github.com/lifeline-vm/lifeline/api"
	"github.com/spf13/cobra"
)

func newStartCommand(g *globals) *cobra.Command {
	f := &waitFlags{}
	cmd := &cobra.Command{
		Use:   "start NAME",
		Short: "Start a Stopped VM",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.client().Start(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.wait {
				st, err := settle(cmd.Context(), g.client(), args[0], r.Seq, api.Running, f.timeout)
				if err != nil {
					return err
				}
				r.State = st
			}
			return printResult(cmd.OutOrStdout(), g, r, "started")
		},
	}
	f.add(cmd)
	return cmd
}
