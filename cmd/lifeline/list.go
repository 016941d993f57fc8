package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/spf13/cobra"
)

func printVMs(w io.Writer, vms []api.VM) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tSINCE\tHOSTAGENT\tDRIVER\tREASON")
	for _, v := range vms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.State, v.Since.Local().Format(time.DateTime), pid(v.HostAgentPID), pid(v.VMProcessPID), v.Reason)
	}
	return tw.Flush()
}

func pid(p int64) string {
	if p == 0 {
		return "-"
	}
	return fmt.Sprint(p)
}

func newListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List VMs",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			vms, err := g.client().List(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				if vms == nil {
					vms = []api.VM{}
				}
				return writeJSON(cmd.OutOrStdout(), vms)
			}
			return printVMs(cmd.OutOrStdout(), vms)
		},
	}
}
