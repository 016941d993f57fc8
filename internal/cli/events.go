package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/internal/timefmt"
	"github.com/spf13/cobra"
)

// formatRecord is the human line of a record, its times in loc (the one
// time format, internal/timefmt: local with its zone, or UTC with --utc).
// A deadline the cause names (one that passed) follows the reason, which
// holds no time.
func formatRecord(r api.Record, loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  #%-5d %-10s %-13s %s → %s", timefmt.Time(r.Time, loc), r.Seq, r.VM, r.Event, r.From, r.To)
	if r.HostAgent.PID != 0 {
		fmt.Fprintf(&b, "  pid=%d", r.HostAgent.PID)
	}
	if r.VMProcess.PID != 0 {
		fmt.Fprintf(&b, " driver=%d", r.VMProcess.PID)
	}
	if !r.Deadline.IsZero() {
		fmt.Fprintf(&b, "  deadline=%s", timefmt.Time(r.Deadline, loc))
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, "  %q", r.Reason)
	}
	if !r.Cause.Deadline.IsZero() {
		fmt.Fprintf(&b, " (deadline %s)", timefmt.Time(r.Cause.Deadline, loc))
	}
	return b.String()
}

func newEventsCommand(g *Globals) *cobra.Command {
	var since uint64
	var follow bool
	cmd := &cobra.Command{
		Use:   "events [NAME]",
		Short: "Print recorded transitions, and with --follow the ones to come",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.MaximumNArgs(1)(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		ValidArgsFunction: completeOneVM(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			vm := ""
			if len(args) == 1 {
				vm = args[0]
			}
			w := cmd.OutOrStdout()
			return g.client().Events(cmd.Context(), client.EventsOptions{VM: vm, Since: since, Follow: follow}, func(r api.Record) error {
				if g.json() {
					return writeJSONLine(w, r)
				}
				_, err := fmt.Fprintln(w, formatRecord(r, g.location()))
				return err
			})
		},
	}
	cmd.Flags().Uint64Var(&since, "since", 0, "start at this record sequence")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new transitions")
	return cmd
}
