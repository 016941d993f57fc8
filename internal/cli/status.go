package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
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

// showStatus prints the status verb's answer, for people or as JSON; the
// fast path (fastStatus) prints with it too.
func showStatus(w io.Writer, g *Globals, v api.VM) error {
	if g.json() {
		return writeJSON(w, v)
	}
	if err := printStatus(w, g, v, time.Now()); err != nil {
		return err
	}
	return printPaths(w, g, v)
}

// printStatus is status for people: "Running for 3m12s", the pending
// deadline as a countdown with the escalation step it brings.
func printStatus(w io.Writer, g *Globals, v api.VM, now time.Time) error {
	fmt.Fprintf(w, "name:       %s\n", v.Name)
	fmt.Fprintf(w, "state:      %s for %s (since %s, seq %d)\n", v.State, age(v.Since, now), g.when(v.Since), v.Seq)
	fmt.Fprintf(w, "event:      %s\n", v.Event)
	if v.Reason != "" {
		fmt.Fprintf(w, "reason:     %s%s\n", v.Reason, causeDeadline(g, v.Cause))
	}
	if !v.Deadline.IsZero() {
		r := api.Record{VM: v.Name, To: v.State, Event: v.Event, Time: v.Since, Deadline: v.Deadline}
		fmt.Fprintf(w, "pending:    %s (deadline %s)\n", step(g, r, now), g.when(v.Deadline))
	}
	if v.Driver != "" {
		fmt.Fprintf(w, "driver:     %s\n", v.Driver)
	}
	fmt.Fprintf(w, "host agent: %s\nvm process: %s\n", pid(v.HostAgentPID), pid(v.VMProcessPID))
	if v.Unrecorded != "" {
		fmt.Fprintf(w, "unrecorded: %s\n", v.Unrecorded)
	}
	return nil
}

// printPaths prints where the VM's files are and what its agent reported
// while it runs, as the daemon says (it knows its LIMA_HOME and its run
// directories; nothing here is guessed from the data dir): the instance
// directory, the agent's log files, Lima's degraded flag and errors.
func printPaths(w io.Writer, g *Globals, v api.VM) error {
	if v.InstanceDir != "" {
		fmt.Fprintf(w, "instance:   %s\n", v.InstanceDir)
	}
	if len(v.AgentLogs) > 0 {
		fmt.Fprintf(w, "agent logs: %s (`lifeline logs %s`)\n", strings.Join(v.AgentLogs, ", "), v.Name)
	}
	if v.Degraded {
		fmt.Fprintf(w, "degraded:   yes, since %s (the agent said so while Running; no transition, so not in the log)\n", g.when(v.AgentErrorAt))
	}
	if v.AgentError != "" {
		note := ""
		if !v.Degraded {
			note = fmt.Sprintf(" (at %s, while Running; no transition, so not in the log)", g.when(v.AgentErrorAt))
		}
		fmt.Fprintf(w, "agent says: %s%s\n", v.AgentError, note)
	}
	return nil
}
