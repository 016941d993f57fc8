package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/internal/buildinfo"
)

// versionString is the one line of `lifeline --version` and `lifeline
// version`; lifelined prints the same version and revision
// (internal/buildinfo).
func versionString() string { return buildinfo.String("lifeline") }

func newVersionCommand(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, with the VCS revision of the build (also: --version)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), buildinfo.Read())
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return err
		},
	}
}
