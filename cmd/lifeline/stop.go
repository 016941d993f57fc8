package main

import (
	"fmt"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/spf13/cobra"
)

func newStopCommand(g *globals) *cobra.Command {
	f := &waitFlags{}
	var force bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a VM: interrupt, then force at the graceful deadline",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if force && grace != 0 {
				return usageError{fmt.Errorf("stop: --grace and --force exclude each other: --force kills at once, --grace waits")}
			}
			r, err := g.client().StopWith(cmd.Context(), args[0], api.StopRequest{Force: force, Grace: grace})
			if err != nil {
				return err
			}
			if f.wait {
				st, err := settle(cmd.Context(), g.client(), args[0], r.Seq, api.Stopped, f.timeout)
				if err != nil {
					return err
				}
				r.State = st
			}
			return printResult(cmd.OutOrStdout(), g, r, "stopped")
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "kill the process tree at once")
	cmd.Flags().DurationVar(&grace, "grace", 0, "for this stop only, how long the guest has to power off before it is forced, 1s to 1h (default: the VM's --graceful-timeout, else the daemon's)")
	f.add(cmd)
	return cmd
}
