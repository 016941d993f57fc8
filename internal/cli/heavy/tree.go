// Package heavy holds the verbs of the CLI that live in lifelined, which
// links what they need and lifeline leaves out: the fleet's NATS client
// (fleet, any verb with --fleet or --host), the store, the engine and the
// report (replay), the demo's daemon (demo, demo-daemon) and the
// lifecycle diagram (graph).
// `lifelined cli VERB ARGS` runs them in the CLI's tree (Tree), as
// lifeline shows it; `lifeline VERB ARGS` runs that (internal/cli.Main).
package heavy

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/internal/cli"
	"github.com/lifeline-vm/lifeline/internal/daemoncmd"
)

// Tree is the CLI's whole tree: every verb, and --host over the fleet.
func Tree() cli.Tree {
	return cli.Tree{
		Verbs: func(g *cli.Globals) []*cobra.Command {
			return []*cobra.Command{
				newFleetCommand(g),
				newReplayCommand(g),
				newGraphCommand(),
				newDemoCommand(g),
				newDemoDaemonCommand(),
			}
		},
		Remote: remoteClient,
		Self:   []string{cli.EntryVerb},
	}
}

// newDemoDaemonCommand is the daemon `lifeline demo` runs: the same
// daemon as lifelined's, for agent-sim and command VMs, without Lima's
// template check and disk preparation or the metrics.
func newDemoDaemonCommand() *cobra.Command {
	return &cobra.Command{
		Use:                cli.DemoDaemonVerb,
		Short:              "The demo's daemon (lifeline demo runs it)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The daemon printed its error: its exit code is this one's.
			if code := daemoncmd.Run(cmd.Context(), daemoncmd.Options{Use: cli.DemoDaemonVerb}, args, cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
}
