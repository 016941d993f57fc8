package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"
	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/internal/daemon"
)

func newStatusCommand(g *globals) *cobra.Command {
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
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			if err := printStatus(cmd.OutOrStdout(), g, v, time.Now()); err != nil {
				return err
			}
			return printPaths(cmd.OutOrStdout(), g, v)
		},
	}
}

// printStatus is status for people: "Running for 3m12s", the pending
// deadline as a countdown with the escalation step it brings.
func printStatus(w io.Writer, g *globals, v api.VM, now time.Time) error {
	fmt.Fprintf(w, "name:       %s\n", v.Name)
	fmt.Fprintf(w, "state:      %s for %s (since %s, seq %d)\n", v.State, age(v.Since, now), g.when(v.Since), v.Seq)
	fmt.Fprintf(w, "event:      %s\n", v.Event)
	if v.Reason != "" {
		fmt.Fprintf(w, "reason:     %s\n", v.Reason)
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

// printPaths prints where the VM's files are, as this data dir's daemon
// lays them out: a command VM's run directory under the data dir, a Lima
// VM's instance directory in the Lima home the data dir records.
func printPaths(w io.Writer, g *globals, v api.VM) error {
	var dir, out, errLog string
	switch v.Driver {
	case driverCommand:
		dir = filepath.Join(g.dataDir, daemon.CommandDir, v.Name)
		out, errLog = process.StdoutFile, process.StderrFile
	case driverLima, "":
		home, err := readLine(filepath.Join(g.dataDir, dataDirLimaHomeFile))
		if err != nil || home == "" {
			return nil
		}
		dir = filepath.Join(home, v.Name)
		out, errLog = filenames.HostAgentStdoutLog, filenames.HostAgentStderrLog
	default:
		return nil
	}
	_, err := fmt.Fprintf(w, "instance:   %s\nagent logs: %s, %s (`lifeline logs %s`)\n", dir, filepath.Join(dir, errLog), filepath.Join(dir, out), v.Name)
	return err
}
