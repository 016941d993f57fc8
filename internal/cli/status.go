package cli

import (
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/internal/cli/fastpath"
)

func newStatusCommand(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:               "status NAME",
		Short:             "Show one VM: its state and for how long, what is pending, its processes",
		Args:              exactArgs(1),
		ValidArgsFunction: completeOneVM(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := g.client().Status(cmd.Context(), args[0])
			if err != nil {
				return withHint(cmd.Context(), g, "status", args[0], err)
			}
			return showStatus(cmd.OutOrStdout(), g, v)
		},
	}
}

// showStatus prints the status verb's answer, for people or as JSON, with
// the code the fast path (internal/cli/fastpath) prints it with.
func showStatus(w io.Writer, g *Globals, v api.VM) error {
	return fastpath.ShowStatus(w, v, g.json(), g.utc, time.Now())
}
