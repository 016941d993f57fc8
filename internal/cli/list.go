package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/internal/cli/fastpath"
)

func newListCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "ps"},
		Short:   "List VMs (-q: names only)",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			vms, err := g.client().List(cmd.Context())
			if err != nil {
				return err
			}
			return fastpath.ShowList(cmd.OutOrStdout(), vms, g.json(), g.quiet, time.Now())
		},
	}
	cmd.Flags().BoolVarP(&g.quiet, "quiet", "q", false, "print the names only")
	return cmd
}
