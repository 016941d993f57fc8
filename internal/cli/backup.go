package cli

import (
	"fmt"
	"os"

	"github.com/lifeline-vm/lifeline/internal/atomicfile"
	"github.com/spf13/cobra"
)

func newBackupCommand(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the live database (input for lifeline replay)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Synced and renamed into place, its directory synced: a
			// backup reported written survives a power cut (issue 14).
			var n int64
			err := atomicfile.Write(args[0], 0o600, func(f *os.File) (err error) {
				n, err = g.client().Backup(cmd.Context(), f)
				return err
			})
			if err != nil {
				return fmt.Errorf("backup to %s: %w", args[0], err)
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"file": args[0], "bytes": n})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %d bytes\n", args[0], n)
			return err
		},
	}
}
