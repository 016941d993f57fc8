package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lima-vm/lima/pkg/hostagent/events"
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
	if _, err := fmt.Fprintf(w, "instance:   %s\nagent logs: %s, %s (`lifeline logs %s`)\n", dir, filepath.Join(dir, errLog), filepath.Join(dir, out), v.Name); err != nil {
		return err
	}
	if v.Driver == driverCommand || (v.State != api.Running && v.State != api.Starting) {
		return nil
	}
	if st, ok := limaStatus(filepath.Join(dir, out)); ok && (st.Degraded || len(st.Errors) > 0) {
		deg := "no"
		if st.Degraded {
			deg = "yes"
		}
		fmt.Fprintf(w, "degraded:   %s (Lima's host agent says so)\n", deg)
		for _, e := range st.Errors {
			fmt.Fprintf(w, "lima error: %s\n", e)
		}
	}
	return nil
}

// limaStatusScan is how much of the end of ha.stdout.log limaStatus reads.
const limaStatusScan = 64 << 10

// limaStatus is the last status Lima's host agent reported in its event
// log (ha.stdout.log, one JSON event a line): whether it runs degraded and
// its errors.
func limaStatus(path string) (events.Status, bool) {
	f, err := os.Open(path)
	if err != nil {
		return events.Status{}, false
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > limaStatusScan {
		if _, err := f.Seek(fi.Size()-limaStatusScan, io.SeekStart); err != nil {
			return events.Status{}, false
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return events.Status{}, false
	}
	var last events.Status
	found := false
	for _, line := range bytes.Split(b, []byte("\n")) {
		var ev struct {
			Status *events.Status `json:"status"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Status != nil {
			last, found = *ev.Status, true
		}
	}
	return last, found
}
