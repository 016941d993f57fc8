package cli

import (
	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/client"
)

func newLogsCommand(g *Globals) *cobra.Command {
	var opts client.LogsOptions
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print the VM's host agent log (Lima's ha.stderr.log), of this start or the one before",
		Long: `Print the log the VM's host agent wrote (for Lima, ha.stderr.log: its
logrus JSON lines), as the daemon reads it from the instance directory.

With --previous, the log of the start before the current one: each start
keeps the logs of the last 5 starts, each cut to its last 1 MiB, so the
words of an agent that crashed survive the restart that followed. With
--follow, keep printing what the running agent writes until it exits or
Ctrl-C. With --events, the agent's status events instead of its log (for
Lima, ha.stdout.log: one JSON event a line, what ` + "`start --wait`" + ` shows as
"NAME: Lima: ..." lines).`,
		Args:              exactArgs(1),
		ValidArgsFunction: completeOneVM(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.client().Logs(cmd.Context(), args[0], opts, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&opts.Previous, "previous", false, "the log of the start before the current one")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing until the agent exits")
	cmd.Flags().BoolVar(&opts.Events, "events", false, "the agent's status events (Lima's ha.stdout.log) instead of its log")
	return cmd
}
