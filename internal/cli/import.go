package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// importOptions are import's flags: --all, and the spec fields an
// instance's lima.yaml does not hold.
type importOptions struct {
	all       bool
	ready     string
	restart   string
	autostart bool
}

func newImportCommand(g *Globals) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import NAME... | --all",
		Short: "Take over Lima instances that limactl made (their lima.yaml becomes the spec; a running one is adopted)",
		Long: `Take over instances that limactl create (and limactl start) made under the
daemon's LIMA_HOME. Each instance's lima.yaml becomes its spec, checked as a
create's before anything is recorded; a running instance (its host agent and
its QEMU alive) is adopted Running with both processes, a stopped one is
recorded Stopped. Nothing of the instance is written. With --all, every
instance the daemon does not run yet is imported. Each instance gets a line;
the exit code is that of the first one refused.`,
		Example: `  limactl create --name=dev template://default && lifeline import dev
  lifeline import --all --restart on-failure`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all == (len(args) > 0) {
				return usageError{errors.New("import: give instance names, or --all")}
			}
			req := api.ImportRequest{Names: args, All: o.all, Spec: api.Spec{Ready: o.ready, Autostart: o.autostart}}
			switch o.restart {
			case "", "no":
			case api.RestartOnFailure:
				req.Spec.Restart = o.restart
			default:
				return usageError{fmt.Errorf("--restart %q: want no or on-failure", o.restart)}
			}
			switch o.ready {
			case "", api.ReadyGuest, api.ReadyAgent:
			default:
				return usageError{fmt.Errorf("--ready %q: want guest or agent", o.ready)}
			}
			res, err := g.client().Import(cmd.Context(), req)
			if err != nil {
				return err
			}
			return printImport(cmd, g, res)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.all, "all", false, "import every instance under LIMA_HOME that lifeline does not run yet")
	f.StringVar(&o.ready, "ready", "", "when the VM counts as Running at lifeline's starts: guest (default) or agent")
	f.StringVar(&o.restart, "restart", "no", "restart policy: no, or on-failure")
	f.BoolVar(&o.autostart, "autostart", false, "start the VM whenever the daemon starts (at login or boot with contrib's units)")
	return cmd
}

// printImport prints one line per instance (or the JSON answer) and
// returns the error of the first instance refused, if any.
func printImport(cmd *cobra.Command, g *Globals, res api.ImportResponse) error {
	w := cmd.OutOrStdout()
	var first error
	failed := 0
	for _, r := range res.Results {
		if err := client.ImportError(r); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if g.json() {
		if err := writeJSON(w, res); err != nil {
			return err
		}
	} else {
		if len(res.Results) == 0 {
			fmt.Fprintln(w, "no instance to import: every instance under LIMA_HOME is lifeline's already (limactl list shows them)")
		}
		for _, r := range res.Results {
			if r.Error != nil {
				fmt.Fprintf(w, "%s: not imported: %s\n", r.Name, r.Error.Message)
				continue
			}
			fmt.Fprintf(w, "%s: imported (%s, seq %d)\n", r.Name, r.State, r.Seq)
		}
	}
	if first != nil {
		return fmt.Errorf("import: %d of %d instances not imported; the first: %w", failed, len(res.Results), first)
	}
	return nil
}

func newReleaseCommand(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "release NAME",
		Short: "Leave a VM to Lima alone: lifeline forgets it, nothing is stopped or removed",
		Long: `Leave a Stopped, Running or Broken VM to Lima: lifeline records that it
forgets the VM (release) and from then on neither watches, restarts nor
adopts it. Its processes and its instance directory stay as they are, so
limactl list shows it in the same state; lifeline import takes it back.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.client().Release(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), g, r, "released to Lima")
		},
	}
}
