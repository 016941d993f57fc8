package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show one VM",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := g.client().Status(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "name:       %s\nstate:      %s (since %s, seq %d)\nevent:      %s\n", v.Name, v.State, v.Since.Local().Format(time.RFC3339), v.Seq, v.Event)
			if v.Reason != "" {
				fmt.Fprintf(w, "reason:     %s\n", v.Reason)
			}
			if !v.Deadline.IsZero() {
				fmt.Fprintf(w, "deadline:   %s\n", v.Deadline.Local().Format(time.RFC3339))
			}
			fmt.Fprintf(w, "host agent: %s\ndriver:     %s\n", pid(v.HostAgentPID), pid(v.VMProcessPID))
			if v.Unrecorded != "" {
				fmt.Fprintf(w, "unrecorded: %s\n", v.Unrecorded)
			}
			return nil
		},
	}
}
