package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/internal/atomicfile"
)

func checkYAML(b []byte) error {
	var v any
	return yaml.Unmarshal(b, &v)
}

func printVMs(w io.Writer, vms []api.VM) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tSINCE\tHOSTAGENT\tDRIVER\tREASON")
	for _, v := range vms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.State, v.Since.Local().Format(time.DateTime), pid(v.HostAgentPID), pid(v.VMProcessPID), v.Reason)
	}
	return tw.Flush()
}

func pid(p int64) string {
	if p == 0 {
		return "-"
	}
	return fmt.Sprint(p)
}

func newListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List VMs",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			vms, err := g.client().List(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				if vms == nil {
					vms = []api.VM{}
				}
				return writeJSON(cmd.OutOrStdout(), vms)
			}
			return printVMs(cmd.OutOrStdout(), vms)
		},
	}
}

func newStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show one VM",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := g.client().Status(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "name:       %s\nstate:      %s (since %s, seq %d)\nevent:      %s\n", v.Name, v.State, v.Since.Local().Format(time.RFC3339), v.Seq, v.Event)
			if v.Reason != "" {
				fmt.Fprintf(w, "reason:     %s\n", v.Reason)
			}
			if !v.Deadline.IsZero() {
				fmt.Fprintf(w, "deadline:   %s\n", v.Deadline.Local().Format(time.RFC3339))
			}
			fmt.Fprintf(w, "host agent: %s\ndriver:     %s\n", pid(v.HostAgentPID), pid(v.VMProcessPID))
			if v.Unrecorded != "" {
				fmt.Fprintf(w, "unrecorded: %s\n", v.Unrecorded)
			}
			return nil
		},
	}
}

func newWaitCommand(g *globals) *cobra.Command {
	var forArg string
	var since uint64
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait NAME --for=state=Running|--for=delete",
		Short: "Wait until a VM reaches a state, or is deleted",
		Long: `Wait until a VM reaches a state, or is deleted. Without --since the VM's
current state counts; with --since SEQ every transition after record SEQ
counts, in order, even one that happened before this command ran.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if forArg == "" {
				return usageError{fmt.Errorf("wait: --for is required (state=STATE or delete)")}
			}
			want, err := parseFor(forArg)
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(cmd.Context(), timeout)
			defer cancel()
			v, err := g.client().Wait(ctx, args[0], want, client.WaitOptions{Since: since, Timeout: timeout})
			if err != nil {
				if ctx.Err() != nil {
					return timeoutError{fmt.Errorf("vm %q: wait: timed out after %v", args[0], timeout)}
				}
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (seq %d)\n", args[0], v.State, v.Seq)
			return err
		},
	}
	cmd.Flags().StringVar(&forArg, "for", "", "state=STATE or delete")
	cmd.Flags().Uint64Var(&since, "since", 0, "count every transition after this record sequence")
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultWaitTimeout, "give up (exit 4) after this long")
	return cmd
}

// parseFor reads --for: state=STATE, or delete (the state Absent). The
// daemon checks the state's name.
func parseFor(s string) (api.State, error) {
	if s == "delete" {
		return api.Absent, nil
	}
	if st, ok := strings.CutPrefix(s, "state="); ok {
		return api.State(st), nil
	}
	return "", usageError{fmt.Errorf("wait: --for=%q: want state=STATE or delete", s)}
}

// formatRecord is the human line of a record.
func formatRecord(r api.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  #%-5d %-10s %-13s %s → %s", r.Time.Local().Format("15:04:05.000"), r.Seq, r.VM, r.Event, r.From, r.To)
	if r.HostAgent.PID != 0 {
		fmt.Fprintf(&b, "  pid=%d", r.HostAgent.PID)
	}
	if r.VMProcess.PID != 0 {
		fmt.Fprintf(&b, " driver=%d", r.VMProcess.PID)
	}
	if !r.Deadline.IsZero() {
		fmt.Fprintf(&b, "  deadline=%s", r.Deadline.Local().Format("15:04:05.000"))
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, "  %q", r.Reason)
	}
	return b.String()
}

func newEventsCommand(g *globals) *cobra.Command {
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
				_, err := fmt.Fprintln(w, formatRecord(r))
				return err
			})
		},
	}
	cmd.Flags().Uint64Var(&since, "since", 0, "start at this record sequence")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new transitions")
	return cmd
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func newBackupCommand(g *globals) *cobra.Command {
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

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"version": version})
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "lifeline", version)
			return err
		},
	}
}
